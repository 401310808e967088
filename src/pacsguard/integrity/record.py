"""``pacsguard record``: fingerprint files on every core and append new instances.

Idempotent: an instance whose SOP Instance UID is recorded with the same content (or a
lossless transcoding of it) appends nothing. Resumable: entries are committed in batches (up
to 5,000 entries, or whatever arrived within 2 seconds), so an interrupted run loses at most
the batch in flight, and re-running picks up the rest. A
recorded UID that arrives with other content is reported and never re-recorded, unless the
operator accepts it with a reason: then a ``supersede`` entry names the leaf it replaces.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pacsguard.dates import utc_now
from pacsguard.errors import DicomReadError, LedgerError
from pacsguard.files import default_workers, iter_file_paths, parallel_map
from pacsguard.integrity.appender import EncodedEntry, encode
from pacsguard.integrity.entry import EntryKind, LedgerEntry
from pacsguard.integrity.fingerprint import Fingerprint, complete_decoded, fingerprint_file
from pacsguard.integrity.ledger import (
    Ledger,
    PendingEntry,
    StoredEntry,
    pack_clinical_attrs,
    unpack_clinical_attrs,
)
from pacsguard.integrity.profile import HeaderProfile
from pacsguard.integrity.status import Status, compare


class Outcome(StrEnum):
    RECORDED = "recorded"
    UNCHANGED = "unchanged"
    CHANGED = "changed"  # recorded UID, other content: reported, not recorded
    SUPERSEDED = "superseded"  # recorded UID, other content, accepted by the operator
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class RecordResult:
    outcome: Outcome
    path: str
    size: int
    sop_instance_uid: str = ""
    detail: str = ""
    leaf_index: int | None = None


_W: dict[str, object] = {}


def _init_worker(profile: HeaderProfile, attr_key: bytes | None, decode: bool) -> None:
    _W["profile"] = profile
    _W["attr_key"] = attr_key
    _W["decode"] = decode


#: what a worker sends back per file: (path, size, note or error, the ``record`` entry
#: encoded and hashed, or None when the file could not be read)
Fingerprinted = tuple[str, int, str, EncodedEntry | None]


def _fingerprint_chunk(paths: list[str]) -> list[Fingerprinted]:
    """Fingerprint files and encode their ``record`` entries here, in the worker: the process
    that appends then only looks the UIDs up and writes rows (issue #10 §9; encoding and the
    leaf hash in the parent competed with the workers for the same two cores)."""
    profile = _W["profile"]
    attr_key = _W["attr_key"]
    assert isinstance(profile, HeaderProfile)
    assert attr_key is None or isinstance(attr_key, bytes)
    out: list[Fingerprinted] = []
    now = utc_now()  # when this chunk was fingerprinted: the entries' recorded_at
    for p in paths:
        path = Path(p)
        try:
            fp = fingerprint_file(path, profile, attr_key)
            note = ""
            if _W["decode"]:
                fp, note = complete_decoded(fp, path, profile)
            encoded = encode(PendingEntry(LedgerEntry(fp, now), p,
                                          pack_clinical_attrs(fp.clinical_attrs)))
            out.append((p, fp.file_size, note, encoded))
        except DicomReadError as exc:
            size = path.stat().st_size if path.exists() else 0
            out.append((p, size, str(exc), None))
    return out


def _fingerprint(encoded: EncodedEntry) -> Fingerprint:
    """The fingerprint a worker encoded, with its attribute digests (they stay out of the
    leaf), for comparing with a recorded version."""
    fp = LedgerEntry.decode(encoded.raw).fingerprint
    attrs = unpack_clinical_attrs(encoded.clinical_attrs)
    return dataclasses.replace(fp, clinical_attrs=tuple(sorted(attrs.items())))


def record(ledger: Ledger, profile: HeaderProfile, attr_key: bytes | None,
           roots: Iterable[Path], *, accept_changes: bool = False, reason: str = "",
           workers: int | None = None, decode: bool = True,
           batch: int = 5000, flush_seconds: float = 2.0) -> Iterator[RecordResult]:
    """Record every file under ``roots``; yield one result per file, in walk order."""
    if accept_changes and not reason.strip():
        raise LedgerError("--accept-changes needs --reason: say why the new version is right")
    workers = workers or default_workers()
    paths = iter_file_paths(roots)
    results = parallel_map(_fingerprint_chunk, paths, workers, chunk=32,
                           initializer=_init_worker,
                           initargs=(profile, attr_key, decode))
    # Big batches make appends cheaper (each commit rewrites the UID index pages it touched:
    # 17,500 entries/s in batches of 1,000 against 24,000/s in batches of 5,000, measured);
    # the time limit bounds how much work an interruption can lose when files come slowly.
    pending: list[Fingerprinted] = []
    started = 0.0
    for item in results:
        if not pending:
            started = time.monotonic()
        pending.append(item)
        if len(pending) >= batch or time.monotonic() - started >= flush_seconds:
            yield from _commit(ledger, profile, pending, accept_changes, reason)
            pending = []
    if pending:
        yield from _commit(ledger, profile, pending, accept_changes, reason)


def _commit(ledger: Ledger, profile: HeaderProfile, items: list[Fingerprinted],
            accept_changes: bool, reason: str) -> list[RecordResult]:
    """Compare a batch with the ledger and append what is new, the look-up and the append
    under one writer lock (another machine sharing the ledger may be recording the same
    instances at the same moment)."""
    uids = [enc.uid for _, _, _, enc in items if enc is not None]
    (out, slots), indexes = ledger.append_decided(
        uids, lambda current: _decide(profile, items, current, accept_changes, reason,
                                      utc_now()))
    for slot, idx in zip(slots, indexes, strict=True):
        out[slot] = dataclasses.replace(out[slot], leaf_index=idx)
    return out


def _decide(profile: HeaderProfile, items: list[Fingerprinted],
            current: dict[str, StoredEntry], accept_changes: bool, reason: str, now: str,
            ) -> tuple[tuple[list[RecordResult], list[int]], list[PendingEntry | EncodedEntry]]:
    """One result per file, and the entries to append, against the newest stored entries
    ``current``. ``slots`` are the positions in the results that wait for a leaf index, in
    the order of the entries."""
    # within this batch, later files compare against earlier ones of the same UID
    batch_seen: dict[str, EncodedEntry] = {}
    out: list[RecordResult] = []
    to_append: list[PendingEntry | EncodedEntry] = []
    slots: list[int] = []
    for path, size, error, encoded in items:
        if encoded is None:
            out.append(RecordResult(Outcome.UNREADABLE, path, size, detail=error))
            continue
        uid = encoded.uid
        earlier = batch_seen.get(uid)
        stored = current.get(uid) if earlier is None else None
        if earlier is None and stored is None:  # a new instance: the worker built its row
            slots.append(len(out))
            out.append(RecordResult(Outcome.RECORDED, path, size, uid, error))
            to_append.append(encoded)
            batch_seen[uid] = encoded
            continue
        if earlier is not None:
            prior = _fingerprint(earlier)
            prior_attrs = dict(prior.clinical_attrs)
        else:
            assert stored is not None
            prior, prior_attrs = stored.entry.fingerprint, unpack_clinical_attrs(
                stored.clinical_attrs)
        fp = _fingerprint(encoded)
        status, detail = compare(prior, prior_attrs, fp, Path(path), profile)
        if status is Status.INTACT:
            out.append(RecordResult(Outcome.UNCHANGED, path, size, uid, detail))
            continue
        if not accept_changes:
            out.append(RecordResult(
                Outcome.CHANGED, path, size, uid,
                f"{status.value}: {detail}. Not recorded; if this version is right, re-run "
                "with --accept-changes --reason TEXT",
            ))
            continue
        if stored is None:
            out.append(RecordResult(
                Outcome.CHANGED, path, size, uid,
                f"{status.value}: {detail}. Two different versions in one run; record "
                "them in separate runs",
            ))
            continue
        entry = LedgerEntry(fp, now, kind=EntryKind.SUPERSEDE, supersedes=stored.leaf_index,
                            reason=reason)
        to_append.append(PendingEntry(entry, path, encoded.clinical_attrs))
        slots.append(len(out))
        out.append(RecordResult(Outcome.SUPERSEDED, path, size, uid, "; ".join(
            x for x in (f"supersedes leaf {stored.leaf_index}", error) if x)))
        batch_seen[uid] = encode(PendingEntry(entry, path, encoded.clinical_attrs))
    return (out, slots), to_append
