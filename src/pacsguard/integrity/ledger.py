"""The append-only, signed ledger of instances (docs/ledger.md).

Leaves are canonical entry bytes (:mod:`pacsguard.integrity.entry`), hashed into an RFC 9162
§2.1 Merkle tree whose every perfect node is stored, so proofs need O(log n) indexed reads.
Appends run in one database transaction per batch under a writer lock (SQLite
``BEGIN IMMEDIATE``; PostgreSQL advisory lock), so several machines can share one ledger.
Checkpoints are C2SP tlog-checkpoints in signed notes (:mod:`pacsguard.integrity.checkpoint`).
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.dates import utc_now
from pacsguard.errors import (
    CheckpointError,
    LedgerError,
    PacsguardError,
    ProofError,
    StoreError,
)
from pacsguard.integrity import merkle
from pacsguard.integrity.checkpoint import Checkpoint, Signer, Verifier
from pacsguard.integrity.entry import LedgerEntry, entry_key_fields
from pacsguard.store.engine import advisory_lock
from pacsguard.store.schema import checkpoints, entries

_PG_LOCK_KEY = 0x70616373  # "pacs": the advisory lock that serialises appends on PostgreSQL

T = TypeVar("T")


def uid_key(uid: str) -> int:
    """The indexed key of a SOP Instance UID: first 8 bytes of its SHA-256, as a signed int."""
    return int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big", signed=True)


def _placeholder(conn: Connection) -> str:
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
    """What ``append`` writes: the entry plus local hints that stay out of the leaf."""

    entry: LedgerEntry
    path: str | None = None
    clinical_attrs: bytes | None = None

    def encoded(self) -> EncodedEntry:
        raw = self.entry.encode()
        uid = self.entry.fingerprint.sop_instance_uid
        return EncodedEntry(uid, uid_key(uid), raw, self.path, self.clinical_attrs,
                            merkle.hash_leaf(raw))


class EncodedEntry(NamedTuple):
    """A :class:`PendingEntry` already encoded and hashed: the ``entries`` columns after
    ``leaf_index``. ``record``'s workers build these, so the process that appends does not
    (issue #10 §9: the appending process competes with the workers for the same cores)."""

    uid: str
    key: int
    raw: bytes
    path: str | None
    clinical_attrs: bytes | None
    leaf_hash: bytes


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


@dataclass
class IntegrityReport:
    """What a full re-hash of the ledger against its latest signed checkpoint found."""

    size: int = 0
    checkpoint_size: int = 0
    checkpoint_ok: bool = False
    problems: list[str] = field(default_factory=list)
    #: leaf indexes whose stored row no longer matches what was hashed into the tree
    tampered_leaves: list[int] = field(default_factory=list)
    uncovered: int = 0  # entries appended after the latest checkpoint

    @property
    def ok(self) -> bool:
        return self.checkpoint_ok and not self.problems


def pack_clinical_attrs(attrs: Sequence[tuple[int, bytes]]) -> bytes:
    return b"".join(tag.to_bytes(4, "big") + d for tag, d in attrs)


def unpack_clinical_attrs(data: bytes | None) -> dict[int, bytes]:
    if not data:
        return {}
    return {int.from_bytes(data[i : i + 4], "big"): data[i + 4 : i + 12]
            for i in range(0, len(data) - 11, 12)}


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector. An append makes only acyclic tuples and bytes, and
    generation scans triggered by them cost up to a quarter of an append when the caller holds
    many objects (measured at 100,000 entries)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _entry_rows(items: Sequence[PendingEntry | EncodedEntry],
                ) -> list[tuple[str, int, bytes, str | None, bytes | None, bytes]]:
    """The ``entries`` columns after ``leaf_index`` for ``items`` (leaf hash last). None
    depends on where the entries land, so ``append`` builds them before it takes the write
    lock; ``append_decided`` can only build them under it, once ``decide`` has run (unless
    they come encoded)."""
    return [item if isinstance(item, EncodedEntry) else item.encoded() for item in items]


def _nodes_query(wanted: Sequence[merkle.Node], mark: str) -> tuple[str, tuple[int, ...]]:
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


def _nodes_found(wanted: Sequence[merkle.Node], rows: Iterable[Any]) -> dict[merkle.Node, bytes]:
    found = {(int(level), int(idx)): bytes(h) for level, idx, h in rows}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise LedgerError(
            f"ledger tree nodes {missing[:3]} are missing from the database; the ledger "
            "was damaged or edited outside pacsguard"
        )
    return found


#: Rows per query when ``audit`` streams the entries (bounded memory on any ledger size)
_AUDIT_BATCH = 4096


def _describe(raw: bytes) -> str:
    """An entry as an operator can look it up: its SOP Instance UID, if the bytes decode."""
    try:
        return f"SOP Instance UID {entry_key_fields(raw)[0]}"
    except LedgerError:
        return "bytes that no longer decode as an entry"


def _entry_mismatch(idx: int, raw: bytes, stored: bytes | None) -> str:
    what = ("has no stored leaf hash" if stored is None else
            "no longer hashes to its stored leaf hash: its bytes were changed after it was "
            "appended")
    return f"ledger REWRITTEN: the entry at leaf {idx} ({_describe(raw)}) {what}"


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

    def _nodes(self, conn: Connection, wanted: Sequence[merkle.Node]) -> dict[merkle.Node, bytes]:
        sql, params = _nodes_query(wanted, _placeholder(conn))
        rows: Iterable[Any] = conn.exec_driver_sql(sql, params) if sql else []
        return _nodes_found(wanted, rows)

    def _range_hashes(self, conn: Connection, ranges: Sequence[merkle.Range]) -> list[bytes]:
        nodes = self._nodes(conn, merkle.proof_nodes(ranges))
        return merkle.hashes_for_ranges(ranges, lambda lv, i: nodes[(lv, i)])

    def root(self, size: int, conn: Connection | None = None) -> bytes:
        """MTH(D[0:size]) from the stored perfect nodes (RFC 9162 §2.1.1)."""
        if size == 0:
            return merkle.EMPTY_ROOT
        if conn is None:
            with self.engine.connect() as c:
                return self.root(size, c)
        return self._range_hashes(conn, [(0, size)])[0]

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

    # -- appending -------------------------------------------------------------------------
    def _lock(self, conn: Connection) -> None:
        advisory_lock(conn, _PG_LOCK_KEY)

    def append(self, items: Sequence[PendingEntry]) -> list[int]:
        """Append entries in one transaction; return their leaf indexes."""
        if not items:
            return []
        with _gc_paused():
            return self._append(_entry_rows(items))

    def _append(self, rows: list[tuple[str, int, bytes, str | None, bytes | None, bytes]],
                ) -> list[int]:
        try:
            with self.engine.begin() as conn:
                self._lock(conn)
                return self._append_in(conn, rows)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not append to the ledger: {getattr(exc, 'orig', exc)}"
                             ) from None

    def _append_in(self, conn: Connection,
                   rows: list[tuple[str, int, bytes, str | None, bytes | None, bytes]],
                   ) -> list[int]:
        """Append inside the caller's transaction, which holds the writer lock."""
        mark = _placeholder(conn)
        # plain SQL: the expression language's compile and cache-key costs were a third of a
        # one-entry append (the gateway's case; measured)
        top = conn.exec_driver_sql("SELECT max(leaf_index) FROM entries").scalar()
        size = 0 if top is None else int(top) + 1
        needed = merkle.Frontier.needed_nodes(size)
        got = self._nodes(conn, needed) if needed else {}
        frontier = merkle.Frontier(size, [(lv, i, got[(lv, i)]) for lv, i in needed])
        node_rows = frontier.extend([row[5] for row in rows])
        # plain DBAPI executemany: SQLAlchemy's per-row parameter processing cost more
        # than the inserts themselves (measured), and these rows need none
        conn.exec_driver_sql(
            "INSERT INTO entries (leaf_index, sop_instance_uid, uid_key, entry, path, "
            f"clinical_attrs, leaf_hash) VALUES ({', '.join([mark] * 7)})",
            [(i, *row) for i, row in enumerate(rows, size)])
        if node_rows:  # none only when a one-leaf tree is started
            conn.exec_driver_sql(
                "INSERT INTO merkle_nodes (level, idx, hash) "
                f"VALUES ({mark}, {mark}, {mark})", node_rows)
        return list(range(size, size + len(rows)))

    def append_decided(
        self, uids: Sequence[str],
        decide: Callable[[dict[str, StoredEntry]],
                         tuple[T, Sequence[PendingEntry | EncodedEntry]]],
    ) -> tuple[T, list[int]]:
        """Look up the newest entries of ``uids`` and append what ``decide`` makes of them, in
        one transaction under the writer lock; return ``decide``'s own result and the leaf
        indexes appended.

        No other writer can append for these UIDs between the look-up and the append, so two
        runs of ``record`` over the same instances on two machines sharing a ledger cannot both
        append a first entry for one of them (the gateway's :class:`Appender` does the same one
        entry at a time). ``decide`` runs inside the lock: keep it to comparisons.
        """
        try:
            with _gc_paused(), self.engine.begin() as conn:
                self._lock(conn)
                result, items = decide(self.current(uids, conn))
                if not items:
                    return result, []
                return result, self._append_in(conn, _entry_rows(items))
        except SQLAlchemyError as exc:
            raise StoreError(f"could not append to the ledger: {getattr(exc, 'orig', exc)}"
                             ) from None

    def appender(self) -> Appender:
        """A held connection for many one-entry appends (the gateway: one per received
        instance), each looking up and appending under the same writer lock."""
        return Appender(self)

    # -- checkpoints -----------------------------------------------------------------------
    def sign_checkpoint(self) -> str:
        """Sign the current tree head and store it; return the signed note."""
        if self.signer is None:
            raise CheckpointError("this ledger was opened without its signing key")
        with self.engine.begin() as conn:
            self._lock(conn)
            size = self.size(conn)
            latest = self.latest_checkpoint(conn)
            if latest is not None and latest[0].tree_size == size:
                return latest[1]
            root = self.root(size, conn)
            note = self.signer.sign(Checkpoint(self.origin, size, root))
            conn.execute(checkpoints.insert(), {"tree_size": size, "root_hash": root,
                                                "note": note, "created_at": utc_now()})
        return note

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
            path = self._range_hashes(conn, merkle.inclusion_path_ranges(idx, cp.tree_size))
        proof = InclusionProof(idx, cp.tree_size, raw, tuple(path), note)
        merkle.verify_inclusion(merkle.hash_leaf(raw), idx, cp.tree_size, path, cp.root_hash)
        return proof

    def audit(self, witnessed_note: str) -> list[str]:
        """Prove that the ledger extends a witnessed checkpoint (RFC 9162 §2.1.4).

        Every entry is re-hashed from its bytes, in leaf order (streaming, bounded memory):
        each must still hash to its stored leaf hash, the stored tree must be what the
        re-hashed leaves make, the first ``m`` of them must hash to the witnessed root, and a
        consistency proof from the stored nodes must verify. Returns the lines of a success
        report; raises ``CheckpointError``/``ProofError`` naming what is wrong (and the first
        entry that does not match, where the stored data can tell) when the ledger was rolled
        back, truncated or rewritten.
        """
        old = self.verifier.verify(witnessed_note, expected_origin=self.origin)
        with self.engine.connect() as conn:
            size = self.size(conn)
            if size < old.tree_size:
                raise CheckpointError(
                    f"ledger ROLLED BACK or TRUNCATED: the witnessed checkpoint covers "
                    f"{old.tree_size} entries, the ledger now holds {size}"
                )
            at_witness, edge = self._rehash(conn, size, old.tree_size)
            # the stored tree, from which proofs are made, must be what the entries hash to
            try:
                stored = self._nodes(conn, [(lv, i) for lv, i, _ in edge])
            except LedgerError as exc:
                raise CheckpointError(f"ledger REWRITTEN: {exc}") from None
            for lv, i, h in edge:
                if stored[(lv, i)] != h:
                    raise ProofError(self._tree_mismatch(conn, lv, i))
            new_root = merkle.fold([h for _, _, h in edge]) if edge else merkle.EMPTY_ROOT
            if at_witness != old.root_hash:
                raise ProofError(
                    f"ledger REWRITTEN: its first {old.tree_size} entries, re-hashed from "
                    f"their bytes, hash to {at_witness.hex()}, the witnessed checkpoint says "
                    f"{old.root_hash.hex()}"
                )
            proof = self._range_hashes(
                conn, merkle.consistency_proof_ranges(old.tree_size, size)
            ) if 0 < old.tree_size < size else []
            latest = self.latest_checkpoint(conn)
        merkle.verify_consistency(old.tree_size, size, old.root_hash, new_root, proof)
        if latest is not None and latest[0].tree_size == size and latest[0].root_hash != new_root:
            raise CheckpointError("the ledger's latest signed checkpoint does not match its "
                                  "stored tree")
        return [
            f"witnessed checkpoint: {old.tree_size} entries, root {old.root_hash.hex()}",
            f"ledger now: {size} entries, root {new_root.hex()}",
            f"re-hashed all {size} entries from their bytes: each matches its stored leaf "
            "hash and the stored tree",
            f"consistency proof ({len(proof)} hashes) verifies: the ledger extends the "
            "witnessed checkpoint",
        ]

    def _rehash(self, conn: Connection, size: int, mark: int,
                ) -> tuple[bytes, list[tuple[int, int, bytes]]]:
        """Re-hash entries ``[0, size)`` from their bytes, in leaf order, a batch at a time.

        Returns MTH of the first ``mark`` of them (RFC 9162 §2.1.1) and the perfect nodes of
        all ``size`` (the frontier: what ``root(size)`` folds). Raises ``ProofError`` naming
        the first entry whose bytes no longer hash to its stored leaf hash, and
        ``CheckpointError`` for a missing leaf.
        """
        m = _placeholder(conn)
        sql = ("SELECT leaf_index, entry, leaf_hash FROM entries WHERE leaf_index >= "
               f"{m} AND leaf_index < {m} ORDER BY leaf_index LIMIT {_AUDIT_BATCH}")
        sha256, prefix = hashlib.sha256, merkle.LEAF_PREFIX
        frontier = merkle.Frontier()
        at_mark = merkle.EMPTY_ROOT
        nxt = 0
        while nxt < size:
            leaves: list[bytes] = []
            for idx, raw, stored in conn.exec_driver_sql(sql, (nxt, size)).fetchall():
                if idx != nxt:
                    break
                leaf = sha256(prefix + raw).digest()
                if leaf != stored:
                    raise ProofError(_entry_mismatch(int(idx), bytes(raw), stored))
                leaves.append(leaf)
                nxt += 1
            if not leaves:
                raise CheckpointError(f"ledger REWRITTEN: leaf {nxt} is missing (the ledger "
                                      f"holds {size} entries): rows were deleted")
            cut = mark - frontier.size
            if 0 < cut <= len(leaves):
                frontier.extend(leaves[:cut])
                at_mark = frontier.root()
                leaves = leaves[cut:]
            frontier.extend(leaves)
        return at_mark, frontier.nodes

    def _leaf_range_hash(self, conn: Connection, level: int, idx: int) -> bytes:
        """MTH of the leaves under perfect node ``(level, idx)``, from their stored leaf
        hashes (streaming)."""
        m = _placeholder(conn)
        sql = ("SELECT leaf_hash FROM entries WHERE leaf_index >= "
               f"{m} AND leaf_index < {m} ORDER BY leaf_index")
        frontier = merkle.Frontier()
        start, end = idx << level, (idx + 1) << level
        for lo in range(start, end, _AUDIT_BATCH):
            frontier.extend(bytes(h) for (h,) in conn.exec_driver_sql(
                sql, (lo, min(end, lo + _AUDIT_BATCH))))
        return frontier.root()

    def _tree_mismatch(self, conn: Connection, level: int, idx: int) -> str:
        """Where the stored tree stops matching entries that each match their leaf hash: go
        down from the perfect node ``(level, idx)``, whose stored hash differs from the
        re-hashed one, to the lowest such node, and name the entries under it."""
        try:
            while level > 0:
                children = [(level - 1, 2 * idx), (level - 1, 2 * idx + 1)]
                stored = self._nodes(conn, children)
                bad = [c for c in children if stored[c] != self._leaf_range_hash(conn, *c)]
                if not bad:
                    break
                level, idx = bad[0]
        except LedgerError as exc:
            return f"ledger REWRITTEN: {exc}"
        first, last = idx << level, ((idx + 1) << level) - 1
        row = conn.exec_driver_sql(
            f"SELECT entry FROM entries WHERE leaf_index = {_placeholder(conn)}", (first,)
        ).first()
        return (f"ledger REWRITTEN: leaves {first}–{last} (the first: "
                f"{_describe(bytes(row[0])) if row else 'no row'}) no longer hash to the stored "
                f"tree node over them (level {level}, index {idx}): an entry among them was "
                "rewritten together with its stored leaf hash, or that node was edited")

    def check_integrity(
        self, on_entry: Callable[[StoredEntry, bool], None] | None = None,
    ) -> IntegrityReport:
        """Re-hash every entry and compare with the latest signed checkpoint (streaming).

        ``on_entry(stored, trusted)`` sees each row as it streams past; ``trusted`` is False
        for a row that no longer matches what was hashed into the tree.
        """
        report = IntegrityReport()
        try:
            latest = self.latest_checkpoint()
        except PacsguardError as exc:
            report.problems.append(f"the ledger's latest checkpoint is not valid: {exc}")
            latest = None
        if latest is None and not report.problems:
            report.problems.append("the ledger has no signed checkpoint; nothing proves it")
        cp_size = latest[0].tree_size if latest else 0
        report.checkpoint_size = cp_size
        frontier = merkle.Frontier()
        try:
            for stored, (uid_col, key_col), leaf_col in self.iter_entries():
                if stored.leaf_index != frontier.size:
                    report.problems.append(
                        f"leaf {frontier.size} is missing (next row is leaf "
                        f"{stored.leaf_index}): ledger rows were deleted"
                    )
                    break
                leaf = merkle.hash_leaf(stored.raw)
                try:
                    entry_uid = stored.key_fields[0]
                except LedgerError:
                    entry_uid = None  # malformed bytes: cannot be what was signed
                # the index columns must still point at this entry, or lookups by UID
                # (record's duplicate check, proofs) would miss it
                trusted = (leaf_col == leaf and uid_col == entry_uid
                           and entry_uid is not None and key_col == uid_key(entry_uid))
                if not trusted:
                    report.tampered_leaves.append(stored.leaf_index)
                if on_entry is not None:
                    on_entry(stored, trusted)
                frontier.append_leaf(leaf)
                if latest is not None and frontier.size == cp_size:
                    report.checkpoint_ok = frontier.root() == latest[0].root_hash
        except LedgerError as exc:
            report.problems.append(str(exc))
        report.size = frontier.size
        if latest is not None:
            if cp_size == 0:
                report.checkpoint_ok = True
            if report.size < cp_size:
                report.problems.append(
                    f"ledger holds {report.size} entries but its signed checkpoint covers "
                    f"{cp_size}: entries were removed"
                )
            elif not report.checkpoint_ok:
                report.problems.append(
                    f"the first {cp_size} entries no longer hash to the signed checkpoint's "
                    f"root {latest[0].root_hash.hex()[:16]}…: ledger rows were edited"
                )
        if report.tampered_leaves:
            report.problems.append(
                "ledger rows changed after they were hashed into the tree: leaf "
                + ", ".join(str(i) for i in report.tampered_leaves[:20])
            )
        report.uncovered = max(0, report.size - cp_size)
        return report


class Appender:
    """One-entry appends for a long-running writer (the gateway: one per received instance).

    Each append is its own committed transaction that looks up the SOP Instance UID's newest
    entry and appends under the same writer lock, so two gateways sharing a ledger cannot
    both append a first entry for one instance. It runs on a held DBAPI connection with
    plain SQL, and keeps the tree's frontier between appends (reloaded whenever another
    writer has appended meanwhile): through SQLAlchemy's connection and with the frontier
    reloaded each time, a one-entry append cost 1.7 ms, several times its commit
    (measured; docs/gateway.md). Not thread-safe: the caller serialises.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        dialect = ledger.engine.dialect
        self._sqlite = dialect.name == "sqlite"
        self._mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self._db_error: type[Exception] = dialect.loaded_dbapi.Error
        self._raw: Any = None
        self._frontier: merkle.Frontier | None = None

    def record(self, uid: str, decide: Callable[[StoredEntry | None], PendingEntry | None],
               ) -> int:
        """``decide`` sees the newest stored entry for ``uid`` (or None) and returns what to
        append, or None to append nothing; returns the leaf index appended, or the current
        one. Raises :class:`StoreError` when the database fails (nothing is half-written)."""
        try:
            if self._raw is None:
                self._raw = self.ledger.engine.raw_connection()
            cur = self._raw.cursor()
        except (SQLAlchemyError, self._db_error) as exc:
            self.close()
            raise StoreError(f"could not open the ledger: {getattr(exc, 'orig', exc)}"
                             ) from None
        m = self._mark
        try:
            with _gc_paused():
                if self._sqlite:
                    cur.execute("BEGIN IMMEDIATE")
                else:
                    cur.execute(f"SELECT pg_advisory_xact_lock({m})", (_PG_LOCK_KEY,))
                cur.execute("SELECT leaf_index, sop_instance_uid, entry, path, clinical_attrs "
                            f"FROM entries WHERE uid_key = {m} ORDER BY leaf_index",
                            (uid_key(uid),))
                found = None
                for idx, u, raw, path, attrs in cur.fetchall():
                    if u == uid:
                        found = StoredEntry(int(idx), bytes(raw), path,
                                            bytes(attrs) if attrs is not None else None)
                pending = decide(found)
                if pending is None:
                    self._end(cur, commit=False)
                    assert found is not None
                    return found.leaf_index
                row = _entry_rows([pending])[0]
                cur.execute("SELECT max(leaf_index) FROM entries")
                top = cur.fetchone()[0]
                size = 0 if top is None else int(top) + 1
                if self._frontier is None or self._frontier.size != size:
                    self._frontier = self._load_frontier(cur, size)
                parents = self._frontier.extend([row[5]])
                cur.execute("INSERT INTO entries (leaf_index, sop_instance_uid, uid_key, "
                            "entry, path, clinical_attrs, leaf_hash) VALUES "
                            f"({', '.join([m] * 7)})", (size, *row))
                if parents:
                    cur.executemany(f"INSERT INTO merkle_nodes (level, idx, hash) VALUES "
                                    f"({m}, {m}, {m})", parents)
                self._end(cur, commit=True)
                return size
        except BaseException as exc:
            self._frontier = None  # it may hold the leaf that was not committed
            with suppress(Exception):
                self._end(cur, commit=False)
            if isinstance(exc, self._db_error):
                self.close()
                raise StoreError(f"could not append to the ledger: {exc}") from None
            raise

    def _end(self, cur: Any, commit: bool) -> None:
        if self._sqlite:
            cur.execute("COMMIT" if commit else "ROLLBACK")
        elif commit:
            self._raw.commit()
        else:
            self._raw.rollback()

    def _load_frontier(self, cur: Any, size: int) -> merkle.Frontier:
        needed = merkle.Frontier.needed_nodes(size)
        sql, params = _nodes_query(needed, self._mark)
        if sql:
            cur.execute(sql, params)
        got = _nodes_found(needed, cur.fetchall() if sql else [])
        return merkle.Frontier(size, [(lv, i, got[(lv, i)]) for lv, i in needed])

    def close(self) -> None:
        self._frontier = None
        if self._raw is not None:
            with suppress(Exception):
                self._raw.close()
            self._raw = None
