"""The append-only, signed ledger of instances (docs/ledger.md): reading it.

Leaves are canonical entry bytes (:mod:`pacsguard.integrity.entry`), hashed into an RFC 9162
§2.1 Merkle tree whose every perfect node is stored, so proofs need O(log n) indexed reads.
Checkpoints are C2SP tlog-checkpoints in signed notes (:mod:`pacsguard.integrity.checkpoint`).

This module holds the ledger's values (what a reader gets back, what a writer hands in), the
look-ups and the inclusion proofs. Writing (appends, checkpoint signing, the writer lock) is
:mod:`pacsguard.integrity.appender`; re-hashing every entry (``verify``'s trust check,
``ledger audit``) is :mod:`pacsguard.integrity.audit`. :class:`Ledger` keeps one method per
operation and hands the writes and the audits to those modules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, func, select

from pacsguard.errors import CheckpointError, LedgerError
from pacsguard.integrity import merkle
from pacsguard.integrity.checkpoint import Checkpoint, Signer, Verifier
from pacsguard.integrity.entry import LedgerEntry, entry_key_fields
from pacsguard.store.schema import checkpoints, entries

if TYPE_CHECKING:
    from pacsguard.integrity.appender import Appender, EncodedEntry
    from pacsguard.integrity.audit import IntegrityReport

T = TypeVar("T")


def uid_key(uid: str) -> int:
    """The indexed key of a SOP Instance UID: first 8 bytes of its SHA-256, as a signed int."""
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big", signed=True)


def placeholder(conn: Connection) -> str:
    """The DBAPI parameter marker for plain SQL: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


@dataclass(frozen=True)
class StoredEntry:
    """A leaf as read back from the database; decoded on first use."""

    leaf_index: int
    raw: bytes
    path: str | None
    clinical_attrs: bytes | None

    @cached_property
    def key_fields(self) -> tuple[str, bytes]:
        """(SOP Instance UID, file SHA-256), sliced out without a full decode."""
        return entry_key_fields(self.raw)

    @cached_property
    def entry(self) -> LedgerEntry:
        try:
            return LedgerEntry.decode(self.raw)
        except LedgerError as exc:
            raise LedgerError(f"ledger leaf {self.leaf_index}: {exc}") from None


@dataclass(frozen=True)
class PendingEntry:
    """What ``append`` writes: the entry plus local hints that stay out of the leaf
    (:func:`pacsguard.integrity.appender.encode` makes its row)."""

    entry: LedgerEntry
    path: str | None = None
    clinical_attrs: bytes | None = None


@dataclass(frozen=True)
class InclusionProof:
    """RFC 9162 §2.1.3 inclusion proof for one leaf, with the checkpoint it verifies against."""

    leaf_index: int
    tree_size: int
    leaf: bytes
    path: tuple[bytes, ...]
    checkpoint: str

    def to_json(self) -> str:
        import base64

        return json.dumps(
            {
                "leaf_index": self.leaf_index,
                "tree_size": self.tree_size,
                "leaf_b64": base64.b64encode(self.leaf).decode(),
                "inclusion_path": [h.hex() for h in self.path],
                "checkpoint": self.checkpoint,
            },
            indent=2,
        )


def pack_clinical_attrs(attrs: Sequence[tuple[int, bytes]]) -> bytes:
    return b"".join(tag.to_bytes(4, "big") + d for tag, d in attrs)


def unpack_clinical_attrs(data: bytes | None) -> dict[int, bytes]:
    if not data:
        return {}
    return {int.from_bytes(data[i : i + 4], "big"): data[i + 4 : i + 12]
            for i in range(0, len(data) - 11, 12)}


def nodes_query(wanted: Sequence[merkle.Node], mark: str) -> tuple[str, tuple[int, ...]]:
    """One query for stored tree nodes: an indexed equality per level (a row-value IN list is
    not indexed by SQLite and turned every append into a scan of the whole tree), written as
    plain SQL: building it with SQLAlchemy's expression language cost more than the query
    itself (measured: most of an inclusion proof's 6 ms on a 10-million-entry ledger)."""
    by_level: dict[int, list[int]] = {}
    for level, idx in wanted:
        by_level.setdefault(level, []).append(idx)
    if not by_level:
        return "", ()
    selects = []
    params: list[int] = []
    leaves = by_level.pop(0, None)
    if leaves:  # level 0: the leaf hashes, kept in entries (revision 0002)
        selects.append("SELECT 0, leaf_index, leaf_hash FROM entries WHERE leaf_index "
                       f"IN ({', '.join([mark] * len(leaves))}) AND leaf_hash IS NOT NULL")
        params.extend(leaves)
    if by_level:
        clauses = []
        for lv, ids in by_level.items():
            clauses.append(f"(level = {mark} AND idx IN ({', '.join([mark] * len(ids))}))")
            params.append(lv)
            params.extend(ids)
        selects.append("SELECT level, idx, hash FROM merkle_nodes WHERE " + " OR ".join(clauses))
    return " UNION ALL ".join(selects), tuple(params)


def nodes_found(wanted: Sequence[merkle.Node], rows: Iterable[Any]) -> dict[merkle.Node, bytes]:
    found = {(int(level), int(idx)): bytes(h) for level, idx, h in rows}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise LedgerError(
            f"ledger tree nodes {missing[:3]} are missing from the database; the ledger "
            "was damaged or edited outside pacsguard"
        )
    return found


def stored_nodes(conn: Connection, wanted: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
    """The stored hashes of the perfect tree nodes ``wanted``; a missing one is an error."""
    sql, params = nodes_query(wanted, placeholder(conn))
    rows: Iterable[Any] = conn.exec_driver_sql(sql, params) if sql else []
    return nodes_found(wanted, rows)


def range_hashes(conn: Connection, ranges: Sequence[merkle.Range]) -> list[bytes]:
    """MTH of each leaf range, folded from the stored perfect nodes (RFC 9162 §2.1.1)."""
    nodes = stored_nodes(conn, merkle.proof_nodes(ranges))
    return merkle.hashes_for_ranges(ranges, lambda lv, i: nodes[(lv, i)])


class Ledger:
    """Reads and appends the ledger in one database."""

    def __init__(self, engine: Engine, origin: str, verifier: Verifier,
                 signer: Signer | None = None) -> None:
        self.engine = engine
        self.origin = origin
        self.verifier = verifier
        self.signer = signer

    # -- reading ---------------------------------------------------------------------------
    def size(self, conn: Connection | None = None) -> int:
        def q(c: Connection) -> int:
            n = c.execute(select(func.max(entries.c.leaf_index))).scalar()
            return 0 if n is None else int(n) + 1

        if conn is not None:
            return q(conn)
        with self.engine.connect() as c:
            return q(c)

    def root(self, size: int, conn: Connection | None = None) -> bytes:
        """MTH(D[0:size]) from the stored perfect nodes (RFC 9162 §2.1.1)."""
        if size == 0:
            return merkle.EMPTY_ROOT
        if conn is None:
            with self.engine.connect() as c:
                return self.root(size, c)
        return range_hashes(conn, [(0, size)])[0]

    def current(self, uids: Sequence[str], conn: Connection | None = None,
                ) -> dict[str, StoredEntry]:
        """The newest entry for each SOP Instance UID that has one."""
        if conn is None:
            with self.engine.connect() as c:
                return self.current(uids, c)
        out: dict[str, StoredEntry] = {}
        uids = list(dict.fromkeys(uids))
        for i in range(0, len(uids), 500):
            rows = conn.execute(
                select(entries.c.leaf_index, entries.c.sop_instance_uid, entries.c.entry,
                       entries.c.path, entries.c.clinical_attrs)
                .where(entries.c.uid_key.in_([uid_key(u) for u in uids[i : i + 500]]))
                .order_by(entries.c.leaf_index)
            )
            wanted = set(uids[i : i + 500])
            for idx, uid, raw, path, attrs in rows:
                if uid not in wanted:  # another UID with the same 8-byte key
                    continue
                out[uid] = StoredEntry(int(idx), bytes(raw), path,
                                       bytes(attrs) if attrs is not None else None)
        return out

    def iter_entries(self, start: int = 0, batch: int = 5000,
                     ) -> Iterator[tuple[StoredEntry, tuple[str, int], bytes | None]]:
        """Every row in leaf order, with its index columns (UID, UID key) and stored leaf hash
        (streaming)."""
        nxt = start
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(entries.c.leaf_index, entries.c.entry, entries.c.path,
                           entries.c.clinical_attrs, entries.c.sop_instance_uid, entries.c.uid_key,
                           entries.c.leaf_hash)
                    .where(entries.c.leaf_index >= nxt)
                    .order_by(entries.c.leaf_index)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for idx, raw, path, attrs, uid, key, leaf in rows:
                yield (StoredEntry(int(idx), bytes(raw), path,
                                   bytes(attrs) if attrs is not None else None),
                       (uid, int(key)), bytes(leaf) if leaf is not None else None)
            nxt = int(rows[-1][0]) + 1

    # -- appending (pacsguard.integrity.appender) ------------------------------------------
    def append(self, items: Sequence[PendingEntry]) -> list[int]:
        """Append entries in one transaction; return their leaf indexes."""
        from pacsguard.integrity.appender import append

        return append(self, items)

    def append_decided(
        self, uids: Sequence[str],
        decide: Callable[[dict[str, StoredEntry]],
                         tuple[T, Sequence[PendingEntry | EncodedEntry]]],
    ) -> tuple[T, list[int]]:
        """Look up the newest entries of ``uids`` and append what ``decide`` makes of them, in
        one transaction under the writer lock (:func:`pacsguard.integrity.appender.
        append_decided`); return ``decide``'s own result and the leaf indexes appended."""
        from pacsguard.integrity.appender import append_decided

        return append_decided(self, uids, decide)

    def appender(self) -> Appender:
        """A held connection for many one-entry appends (the gateway: one per received
        instance), each looking up and appending under the same writer lock."""
        from pacsguard.integrity.appender import Appender

        return Appender(self)

    # -- checkpoints -----------------------------------------------------------------------
    def sign_checkpoint(self) -> str:
        """Sign the current tree head and store it; return the signed note."""
        from pacsguard.integrity.appender import sign_checkpoint

        return sign_checkpoint(self)

    def latest_checkpoint(self, conn: Connection | None = None,
                          ) -> tuple[Checkpoint, str] | None:
        """The newest stored checkpoint, signature verified."""
        if conn is None:
            with self.engine.connect() as c:
                return self.latest_checkpoint(c)
        row = conn.execute(
            select(checkpoints.c.note).order_by(checkpoints.c.tree_size.desc()).limit(1)
        ).first()
        if row is None:
            return None
        return self.verifier.verify(row[0], expected_origin=self.origin), row[0]

    # -- proofs ----------------------------------------------------------------------------
    def prove(self, sop_instance_uid: str) -> InclusionProof:
        """Inclusion proof of the newest entry for a UID, against the latest checkpoint.

        An entry appended after the latest checkpoint (the gateway's, just after it answered
        Success) cannot be proven yet: the error says so and how to sign a checkpoint.
        """
        with self.engine.connect() as conn:
            row = conn.execute(
                select(entries.c.leaf_index, entries.c.entry)
                .where(entries.c.uid_key == uid_key(sop_instance_uid))
                .where(entries.c.sop_instance_uid == sop_instance_uid)
                .order_by(entries.c.leaf_index.desc()).limit(1)
            ).first()
            if row is None:
                raise LedgerError(f"SOP Instance UID {sop_instance_uid} is not in the ledger")
            idx, raw = int(row[0]), bytes(row[1])
            latest = self.latest_checkpoint(conn)
            if latest is None or idx >= latest[0].tree_size:
                covers = (f"the latest covers {latest[0].tree_size} entries" if latest else
                          "the ledger has no signed checkpoint yet")
                raise CheckpointError(
                    f"SOP Instance UID {sop_instance_uid} is recorded (leaf {idx}) but not yet "
                    f"covered by a signed checkpoint: {covers}. Run 'pacsguard ledger prove "
                    f"{sop_instance_uid} --sign' to sign one and prove it (this needs the "
                    "ledger's signing key, ledger.key), or 'pacsguard ledger checkpoint' where "
                    "the key is, then prove again"
                )
            cp, note = latest
            path = range_hashes(conn, merkle.inclusion_path_ranges(idx, cp.tree_size))
        proof = InclusionProof(idx, cp.tree_size, raw, tuple(path), note)
        merkle.verify_inclusion(merkle.hash_leaf(raw), idx, cp.tree_size, path, cp.root_hash)
        return proof

    # -- re-hashing every entry (pacsguard.integrity.audit) --------------------------------
    def audit(self, witnessed_note: str) -> list[str]:
        """Prove that the ledger extends a witnessed checkpoint (RFC 9162 §2.1.4), every entry
        re-hashed from its bytes (:func:`pacsguard.integrity.audit.audit`). Returns the lines
        of a success report; raises ``CheckpointError``/``ProofError`` naming what is wrong."""
        from pacsguard.integrity.audit import audit

        return audit(self, witnessed_note)

    def check_integrity(
        self, on_entry: Callable[[StoredEntry, bool], None] | None = None,
    ) -> IntegrityReport:
        """Re-hash every entry and compare with the latest signed checkpoint, streaming
        (:func:`pacsguard.integrity.audit.check_integrity`)."""
        from pacsguard.integrity.audit import check_integrity

        return check_integrity(self, on_entry)
