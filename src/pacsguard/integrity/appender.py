"""Writing the ledger (docs/ledger.md): appends, checkpoint signing, and the writer lock.

Appends run in one database transaction per batch under a writer lock (SQLite
``BEGIN IMMEDIATE``; PostgreSQL advisory lock), so several machines can share one ledger.
``record`` appends a batch at a time (:func:`append_decided`: look the batch's UIDs up, decide,
append, commit); the gateway one instance at a time on a held connection (:class:`Appender`).
Each append loads the tree's right frontier, writes one ``entries`` row per leaf (with its leaf
hash) and one ``merkle_nodes`` row per completed parent (RFC 9162 §2.1).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.dates import utc_now
from pacsguard.errors import CheckpointError, StoreError
from pacsguard.integrity import merkle
from pacsguard.integrity.checkpoint import Checkpoint
from pacsguard.integrity.ledger import (
    Ledger,
    PendingEntry,
    StoredEntry,
    nodes_found,
    nodes_query,
    placeholder,
    stored_nodes,
    uid_key,
)
from pacsguard.store.engine import advisory_lock
from pacsguard.store.schema import checkpoints

_PG_LOCK_KEY = 0x70616373  # "pacs": the advisory lock that serialises appends on PostgreSQL

T = TypeVar("T")

#: The ``entries`` columns after ``leaf_index``, leaf hash last
Row = tuple[str, int, bytes, str | None, bytes | None, bytes]


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


def encode(item: PendingEntry) -> EncodedEntry:
    """``item``'s row: its entry encoded (docs/ledger.md §Entry encoding) and its leaf hash."""
    raw = item.entry.encode()
    uid = item.entry.fingerprint.sop_instance_uid
    return EncodedEntry(uid, uid_key(uid), raw, item.path, item.clinical_attrs,
                        merkle.hash_leaf(raw))


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


def _entry_rows(items: Sequence[PendingEntry | EncodedEntry]) -> list[Row]:
    """The ``entries`` columns after ``leaf_index`` for ``items`` (leaf hash last). None
    depends on where the entries land, so ``append`` builds them before it takes the write
    lock; ``append_decided`` can only build them under it, once ``decide`` has run (unless
    they come encoded)."""
    return [item if isinstance(item, EncodedEntry) else encode(item) for item in items]


def write_lock(conn: Connection) -> None:
    """Take the writer lock for the rest of ``conn``'s transaction (PostgreSQL: a transaction
    advisory lock; SQLite's ``BEGIN IMMEDIATE`` is taken by the engine)."""
    advisory_lock(conn, _PG_LOCK_KEY)


def append(ledger: Ledger, items: Sequence[PendingEntry]) -> list[int]:
    """Append entries in one transaction; return their leaf indexes."""
    if not items:
        return []
    with _gc_paused():
        rows = _entry_rows(items)
        try:
            with ledger.engine.begin() as conn:
                write_lock(conn)
                return _append_in(conn, rows)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not append to the ledger: {getattr(exc, 'orig', exc)}"
                             ) from None


def _append_in(conn: Connection, rows: list[Row]) -> list[int]:
    """Append inside the caller's transaction, which holds the writer lock."""
    mark = placeholder(conn)
    # plain SQL: the expression language's compile and cache-key costs were a third of a
    # one-entry append (the gateway's case; measured)
    top = conn.exec_driver_sql("SELECT max(leaf_index) FROM entries").scalar()
    size = 0 if top is None else int(top) + 1
    needed = merkle.Frontier.needed_nodes(size)
    got = stored_nodes(conn, needed) if needed else {}
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
    ledger: Ledger, uids: Sequence[str],
    decide: Callable[[dict[str, StoredEntry]], tuple[T, Sequence[PendingEntry | EncodedEntry]]],
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
        with _gc_paused(), ledger.engine.begin() as conn:
            write_lock(conn)
            result, items = decide(ledger.current(uids, conn))
            if not items:
                return result, []
            return result, _append_in(conn, _entry_rows(items))
    except SQLAlchemyError as exc:
        raise StoreError(f"could not append to the ledger: {getattr(exc, 'orig', exc)}"
                         ) from None


def sign_checkpoint(ledger: Ledger) -> str:
    """Sign the current tree head and store it, under the writer lock; return the signed
    note (the latest one again when the ledger has not grown since)."""
    if ledger.signer is None:
        raise CheckpointError("this ledger was opened without its signing key")
    with ledger.engine.begin() as conn:
        write_lock(conn)
        size = ledger.size(conn)
        latest = ledger.latest_checkpoint(conn)
        if latest is not None and latest[0].tree_size == size:
            return latest[1]
        root = ledger.root(size, conn)
        note = ledger.signer.sign(Checkpoint(ledger.origin, size, root))
        conn.execute(checkpoints.insert(), {"tree_size": size, "root_hash": root,
                                            "note": note, "created_at": utc_now()})
    return note


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
        sql, params = nodes_query(needed, self._mark)
        if sql:
            cur.execute(sql, params)
        got = nodes_found(needed, cur.fetchall() if sql else [])
        return merkle.Frontier(size, [(lv, i, got[(lv, i)]) for lv, i in needed])

    def close(self) -> None:
        self._frontier = None
        if self._raw is not None:
            with suppress(Exception):
                self._raw.close()
            self._raw = None
