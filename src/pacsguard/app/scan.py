"""The scan use case (issue #5 §3): scan files and folders for weaponised content, count what
was found, and write disarmed copies; what ``pacsguard scan`` calls, and the dashboard will.

Plain values in, typed results out; nothing is printed. Each file's outcome is handed to
``on_event`` as soon as it is known, in a stable order (sorted names, folder by folder; the
skipped disarm manifests last), so a caller can stream findings from a large archive without
holding them; the totals come back as a :class:`ScanSummary`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pacsguard.errors import PacsguardError
from pacsguard.files import default_workers
from pacsguard.findings import EXIT_FOR, Severity
from pacsguard.scan import DisarmRecord, ScanResult, Skipped, Unreadable, disarm_file, scan_paths

#: exit status when something could not be read or written: no verdict (docs/findings.md)
EXIT_UNREADABLE = 2


@dataclass(frozen=True)
class DisarmedCopy:
    """A disarmed copy of a scanned file was written and recorded in the manifest."""

    result: ScanResult  # the scan of the original
    record: DisarmRecord


@dataclass(frozen=True)
class DisarmFailed:
    """The disarmed copy of a file could not be written; ``message`` names it and says why.
    Counted with the unreadable files: the scan has no verdict for it."""

    subject: str
    message: str


#: what :func:`run` hands to ``on_event``, one file (or copy) at a time: a file's scan, a file
#: that could not be read, one deliberately left out, a disarmed copy, a copy that failed
ScanEvent = ScanResult | Unreadable | Skipped | DisarmedCopy | DisarmFailed


@dataclass(frozen=True)
class ScanSummary:
    """The totals of one scan."""

    files: int  # files scanned (read and given a verdict)
    clean: int  # ... with nothing above info
    worst: Severity  # the worst finding in any file (info when none)
    findings: tuple[tuple[Severity, int], ...]  # every severity, info first, and its count
    unreadable: int  # files that could not be read, and copies that could not be written
    disarmed: int  # disarmed copies written
    skipped: int  # files deliberately not scanned (disarm manifests)

    @property
    def with_findings(self) -> int:
        return self.files - self.clean

    @property
    def exit_status(self) -> int:
        """2 when something could not be read or written (no verdict), else that of the worst
        finding: 0 for info, 3, 4, 5, 6 for low to critical (docs/findings.md)."""
        return EXIT_UNREADABLE if self.unreadable else EXIT_FOR[self.worst]


def run(paths: Sequence[Path], *, disarm_to: Path | None = None, workers: int | None = None,
        on_event: Callable[[ScanEvent], None] | None = None) -> ScanSummary:
    """Scan every file under ``paths``; with ``disarm_to``, write a disarmed copy of each DICOM
    file that has a finding above info and something to remove (files under ``disarm_to``
    are not scanned). ``workers``: processes (default: every core).

    Raises :class:`~pacsguard.errors.PacsguardError` for a root that does not exist, and its
    :class:`~pacsguard.errors.ConfigError` for a folder with no files, when the walk reaches
    it (what was scanned before has been handed to
    ``on_event``); a file that cannot be read, or whose copy cannot be written, is an event
    and counted, so one bad file hides no verdict.
    """
    files = clean = unreadable = disarmed = skipped = 0
    worst = Severity.INFO
    counts = dict.fromkeys(Severity, 0)
    emit = on_event if on_event is not None else _ignore
    for item in scan_paths(paths, skip=disarm_to,
                           workers=workers if workers is not None else default_workers()):
        if isinstance(item, Skipped):
            skipped += 1
            emit(item)
            continue
        if isinstance(item, Unreadable):
            unreadable += 1
            emit(item)
            continue
        files += 1
        for f in item.findings:
            counts[f.severity] += 1
        worst = max(worst, item.worst)
        if item.clean:
            clean += 1
        emit(item)
        if disarm_to is not None and item.dicom and item.removals and not item.clean:
            copy = _disarm(item, disarm_to)
            if isinstance(copy, DisarmedCopy):
                disarmed += 1
            else:
                unreadable += 1
            emit(copy)
    return ScanSummary(files, clean, worst, tuple(counts.items()), unreadable, disarmed,
                       skipped)


def _disarm(result: ScanResult, out_dir: Path) -> DisarmedCopy | DisarmFailed:
    try:
        return DisarmedCopy(result, disarm_file(result.subject, out_dir))
    except PacsguardError as exc:
        return DisarmFailed(result.subject, str(exc))


def _ignore(event: ScanEvent) -> None:
    pass
