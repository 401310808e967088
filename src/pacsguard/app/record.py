"""Record folders: fingerprint every DICOM file under them and append the new instances to
the ledger, then sign a checkpoint (docs/ledger.md; :mod:`pacsguard.integrity.record`).

Nothing per file is kept: results the operator should see (a changed or unreadable file, an
accepted change, a file recorded without its decoded pixels) go to ``on_notice`` as they
happen, and progress to ``on_progress``; what is returned is the summary.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pacsguard.app.ledger import sign_checkpoint
from pacsguard.integrity.record import Outcome, RecordResult, record
from pacsguard.workspace import Workspace


@dataclass(frozen=True)
class RecordSummary:
    """What one ``record`` run did."""

    #: files per outcome, in the order the outcomes first occurred
    counts: Mapping[Outcome, int]
    bytes: int  # read, over all files
    seconds: float  # from opening the ledger to the signed checkpoint
    checkpoint: str | None  # the note signed at the end; None when nothing was appended

    @property
    def files(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """No file was changed (and refused) or unreadable."""
        return not (self.counts.get(Outcome.CHANGED) or self.counts.get(Outcome.UNREADABLE))

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds else 0

    @property
    def megabytes_per_second(self) -> float:
        return self.bytes / 1e6 / max(self.seconds, 1e-9)


def noteworthy(result: RecordResult) -> bool:
    """Whether the operator is told of ``result`` as it happens: a changed or unreadable file,
    an accepted change, or a file recorded with a note (its pixels could not be decoded)."""
    return result.outcome in (Outcome.CHANGED, Outcome.UNREADABLE, Outcome.SUPERSEDED) or (
        result.outcome is Outcome.RECORDED and bool(result.detail))


def record_folders(ws: Workspace, paths: Sequence[Path], *, accept_changes: bool = False,
                   reason: str = "", workers: int | None = None, decode: bool = True,
                   commit_every: int = 5000,
                   on_notice: Callable[[RecordResult], None] | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> RecordSummary:
    """Record every file under ``paths`` into the workspace's ledger.

    ``accept_changes`` (with a ``reason``) records a changed instance as a new version that
    supersedes the recorded one; ``decode`` records decoded-pixel digests of compressed
    images; ``commit_every`` bounds the entries per ledger commit. ``on_progress(files,
    bytes)`` is called once when the work starts (0, 0) and after every file, with the totals
    so far. A checkpoint is signed whenever something was appended, also when the run is
    interrupted (committed batches are kept).
    """
    ledger, profile, attr_key = ws.open_ledger()
    counts: Counter[Outcome] = Counter()
    start = time.perf_counter()
    files = nbytes = 0
    note = None
    try:
        if on_progress is not None:
            on_progress(0, 0)
        for r in record(ledger, profile, attr_key, paths, accept_changes=accept_changes,
                        reason=reason, workers=workers, decode=decode, batch=commit_every):
            counts[r.outcome] += 1
            files += 1
            nbytes += r.size
            if on_progress is not None:
                on_progress(files, nbytes)
            if on_notice is not None and noteworthy(r):
                on_notice(r)
    finally:
        try:
            if counts[Outcome.RECORDED] or counts[Outcome.SUPERSEDED]:
                note = sign_checkpoint(ws, ledger)
        finally:
            ledger.engine.dispose()
    return RecordSummary(dict(counts), nbytes, time.perf_counter() - start, note)
