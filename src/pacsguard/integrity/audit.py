"""Re-hashing every ledger entry (docs/ledger.md §Trust checks): ``verify``'s trust check and
``ledger audit``.

:func:`check_integrity` re-hashes every entry against the latest signed checkpoint, streaming,
and names the rows changed after they were hashed into the tree. :func:`audit` proves that the
ledger extends a checkpoint a witness kept (RFC 9162 §2.1.4): every entry re-hashed from its
bytes, the stored tree compared with the re-hashed one, and a consistency proof verified.
Both read only; neither holds more than one batch of rows at a time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from pacsguard.errors import CheckpointError, LedgerError, PacsguardError, ProofError
from pacsguard.integrity import merkle
from pacsguard.integrity.entry import entry_key_fields
from pacsguard.integrity.ledger import (
    Ledger,
    StoredEntry,
    placeholder,
    range_hashes,
    stored_nodes,
    uid_key,
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


def audit(ledger: Ledger, witnessed_note: str) -> list[str]:
    """Prove that the ledger extends a witnessed checkpoint (RFC 9162 §2.1.4).

    Every entry is re-hashed from its bytes, in leaf order (streaming, bounded memory):
    each must still hash to its stored leaf hash, the stored tree must be what the
    re-hashed leaves make, the first ``m`` of them must hash to the witnessed root, and a
    consistency proof from the stored nodes must verify. Returns the lines of a success
    report; raises ``CheckpointError``/``ProofError`` naming what is wrong (and the first
    entry that does not match, where the stored data can tell) when the ledger was rolled
    back, truncated or rewritten.
    """
    old = ledger.verifier.verify(witnessed_note, expected_origin=ledger.origin)
    with ledger.engine.connect() as conn:
        size = ledger.size(conn)
        if size < old.tree_size:
            raise CheckpointError(
                f"ledger ROLLED BACK or TRUNCATED: the witnessed checkpoint covers "
                f"{old.tree_size} entries, the ledger now holds {size}"
            )
        at_witness, edge = _rehash(conn, size, old.tree_size)
        # the stored tree, from which proofs are made, must be what the entries hash to
        try:
            stored = stored_nodes(conn, [(lv, i) for lv, i, _ in edge])
        except LedgerError as exc:
            raise CheckpointError(f"ledger REWRITTEN: {exc}") from None
        for lv, i, h in edge:
            if stored[(lv, i)] != h:
                raise ProofError(_tree_mismatch(conn, lv, i))
        new_root = merkle.fold([h for _, _, h in edge]) if edge else merkle.EMPTY_ROOT
        if at_witness != old.root_hash:
            raise ProofError(
                f"ledger REWRITTEN: its first {old.tree_size} entries, re-hashed from "
                f"their bytes, hash to {at_witness.hex()}, the witnessed checkpoint says "
                f"{old.root_hash.hex()}"
            )
        proof = range_hashes(
            conn, merkle.consistency_proof_ranges(old.tree_size, size)
        ) if 0 < old.tree_size < size else []
        latest = ledger.latest_checkpoint(conn)
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


def _rehash(conn: Connection, size: int, mark: int,
            ) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """Re-hash entries ``[0, size)`` from their bytes, in leaf order, a batch at a time.

    Returns MTH of the first ``mark`` of them (RFC 9162 §2.1.1) and the perfect nodes of
    all ``size`` (the frontier: what ``root(size)`` folds). Raises ``ProofError`` naming
    the first entry whose bytes no longer hash to its stored leaf hash, and
    ``CheckpointError`` for a missing leaf.
    """
    m = placeholder(conn)
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


def _leaf_range_hash(conn: Connection, level: int, idx: int) -> bytes:
    """MTH of the leaves under perfect node ``(level, idx)``, from their stored leaf
    hashes (streaming)."""
    m = placeholder(conn)
    sql = ("SELECT leaf_hash FROM entries WHERE leaf_index >= "
           f"{m} AND leaf_index < {m} ORDER BY leaf_index")
    frontier = merkle.Frontier()
    start, end = idx << level, (idx + 1) << level
    for lo in range(start, end, _AUDIT_BATCH):
        frontier.extend(bytes(h) for (h,) in conn.exec_driver_sql(
            sql, (lo, min(end, lo + _AUDIT_BATCH))))
    return frontier.root()


def _tree_mismatch(conn: Connection, level: int, idx: int) -> str:
    """Where the stored tree stops matching entries that each match their leaf hash: go
    down from the perfect node ``(level, idx)``, whose stored hash differs from the
    re-hashed one, to the lowest such node, and name the entries under it."""
    try:
        while level > 0:
            children = [(level - 1, 2 * idx), (level - 1, 2 * idx + 1)]
            stored = stored_nodes(conn, children)
            bad = [c for c in children if stored[c] != _leaf_range_hash(conn, *c)]
            if not bad:
                break
            level, idx = bad[0]
    except LedgerError as exc:
        return f"ledger REWRITTEN: {exc}"
    first, last = idx << level, ((idx + 1) << level) - 1
    row = conn.exec_driver_sql(
        f"SELECT entry FROM entries WHERE leaf_index = {placeholder(conn)}", (first,)
    ).first()
    return (f"ledger REWRITTEN: leaves {first}–{last} (the first: "
            f"{_describe(bytes(row[0])) if row else 'no row'}) no longer hash to the stored "
            f"tree node over them (level {level}, index {idx}): an entry among them was "
            "rewritten together with its stored leaf hash, or that node was edited")


def check_integrity(
    ledger: Ledger, on_entry: Callable[[StoredEntry, bool], None] | None = None,
) -> IntegrityReport:
    """Re-hash every entry and compare with the latest signed checkpoint (streaming).

    ``on_entry(stored, trusted)`` sees each row as it streams past; ``trusted`` is False
    for a row that no longer matches what was hashed into the tree.
    """
    report = IntegrityReport()
    try:
        latest = ledger.latest_checkpoint()
    except PacsguardError as exc:
        report.problems.append(f"the ledger's latest checkpoint is not valid: {exc}")
        latest = None
    if latest is None and not report.problems:
        report.problems.append("the ledger has no signed checkpoint; nothing proves it")
    cp_size = latest[0].tree_size if latest else 0
    report.checkpoint_size = cp_size
    frontier = merkle.Frontier()
    try:
        for stored, (uid_col, key_col), leaf_col in ledger.iter_entries():
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
