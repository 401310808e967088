"""What callers import: scan one file or instance in memory, a file on disk, or folders.

:func:`scan_bytes` (the gateway, on receipt) and :func:`scan_file` scan one input: a whole
file in memory first takes the quick walk (:mod:`.quick`), which says "nothing to report" or
"not sure"; when not sure, or for a file read in windows, the full walk (:mod:`.full`) scans
it. :func:`scan_paths` scans every file under folders, in worker processes when asked, and
says which files it could not read (:class:`Unreadable`) or left out (:class:`Skipped`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pacsguard.errors import ConfigError, DicomReadError
from pacsguard.files import iter_file_paths, parallel_map
from pacsguard.findings import Finding
from pacsguard.scan.full import full_scan
from pacsguard.scan.model import DEFAULT_LIMITS, Limits, Removal, ScanResult, clean_result
from pacsguard.scan.quick import quick_walk
from pacsguard.scan.source import FIRST_READ, Source, open_source

# O_NONBLOCK: opening a FIFO given by mistake must not wait for a writer
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def _scan(src: Source, name: str, limits: Limits) -> ScanResult:
    if len(src.buf) == src.size:  # the whole file
        quick = quick_walk(src.buf, limits)
        if quick is not None:
            return clean_result(name, src.size, *quick)
    return full_scan(src, name, limits)


def scan_bytes(data: bytes, name: str = "<bytes>", *,
               limits: Limits = DEFAULT_LIMITS) -> ScanResult:
    """Scan one PS3.10 file (or bare data set) held in memory; never raises for any bytes.

    ``name`` becomes each finding's subject (the gateway passes a spool name, never patient
    data). Use :meth:`ScanResult.blocking` for a reject/quarantine verdict.
    """
    return _scan(Source(bytes(data)), name, limits)


def scan_file(path: str | os.PathLike[str], *, limits: Limits = DEFAULT_LIMITS) -> ScanResult:
    """Scan one file, reading only the windows the verdict needs.

    Raises :class:`DicomReadError` (naming the file) only when the file cannot be opened or
    read at all; every property of its content is a finding.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, _OPEN_FLAGS)
    except OSError as exc:
        raise DicomReadError(f"{name}: cannot be opened ({exc.strerror}); check that it "
                             "exists and is readable") from None
    try:
        first = os.read(fd, FIRST_READ)
        if len(first) < FIRST_READ:  # the whole file: no need to ask its size
            quick = quick_walk(first, limits)
            if quick is not None:
                return clean_result(name, len(first), *quick)
            return full_scan(Source(first, None, fd), name, limits)
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DicomReadError(f"{name}: not a regular file; give files or folders")
        return _scan(open_source(fd, st.st_size, first), name, limits)
    except IsADirectoryError:
        raise DicomReadError(f"{name}: a folder, not a regular file; give files or folders "
                             "(folders are scanned through scan_paths)") from None
    except OSError as exc:
        raise DicomReadError(f"{name}: cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Unreadable:
    """A file (or folder) under the scanned roots that could not be read at all."""

    subject: str
    message: str


def _scan_batch(limits: Limits, paths: list[str]) -> list[ScanResult | Unreadable]:
    """Scan a batch of paths (in a worker process, or in this one)."""
    out: list[ScanResult | Unreadable] = []
    for path in paths:
        base = os.path.basename(path)
        if base.startswith("<unreadable folder: ") and base.endswith(">"):
            folder = os.path.dirname(path)
            out.append(Unreadable(folder, f"{folder}: folder cannot be read ({base[20:-1]})"))
            continue
        try:
            out.append(scan_file(path, limits=limits))
        except DicomReadError as exc:
            out.append(Unreadable(path, str(exc)))
    return out


@dataclass(frozen=True)
class Skipped:
    """A file under the scanned roots that was deliberately not scanned, and why."""

    subject: str
    why: str


#: the manifest ``scan --disarm`` appends to (scan/disarm.py), and the keys of its lines
MANIFEST = "manifest.jsonl"
_MANIFEST_KEYS = frozenset({"original_path", "original_sha256", "disarmed_path",
                            "disarmed_sha256"})


def is_disarm_manifest(path: str) -> bool:
    """Whether ``path`` is the manifest ``scan --disarm`` writes: named ``manifest.jsonl``,
    no NUL byte in its first 64 KiB, and a first line that is a JSON object with the
    manifest's keys. Such a file cannot be DICOM (a File Meta group, PS3.10 §7.1, and a bare
    data set both have NUL bytes in their first bytes), so skipping it hides nothing."""
    import json

    if os.path.basename(path) != MANIFEST:
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    if b"\0" in head:
        return False
    try:
        first = json.loads(head.split(b"\n", 1)[0])
    except ValueError:
        return False
    return isinstance(first, dict) and first.keys() >= _MANIFEST_KEYS


def _files(roots: Iterable[Path], skip: Path | None,
           skipped: list[Skipped] | None = None) -> Iterator[str]:
    skip_prefix = str(skip.expanduser().resolve()) + os.sep if skip is not None else None
    for root in roots:
        seen = 0
        for path in iter_file_paths([root]):  # raises PacsguardError for a missing root
            if skip_prefix is not None and path.startswith(skip_prefix):
                continue
            seen += 1
            if skipped is not None and is_disarm_manifest(path):
                skipped.append(Skipped(path, "the manifest 'scan --disarm' writes, not DICOM"))
                continue
            yield path
        if seen == 0:
            raise ConfigError(f"{root}: a folder with no files in it; nothing to scan")


_Packed = tuple[str, int, bool, str, tuple[Finding, ...], tuple[Removal, ...], int] | \
    tuple[str, str]


def _scan_packed(limits: Limits, paths: list[str]) -> list[_Packed]:
    """:func:`_scan_batch` as plain tuples: they cross the process boundary several times
    faster than dataclasses (measured: unpickling results had made two workers no faster
    than one)."""
    out: list[_Packed] = []
    for r in _scan_batch(limits, paths):
        if isinstance(r, Unreadable):
            out.append((r.subject, r.message))
        else:
            out.append((r.subject, r.size, r.dicom, r.transfer_syntax, r.findings, r.removals,
                        r.dataset_offset))
    return out


def scan_paths(roots: Iterable[Path], *, limits: Limits = DEFAULT_LIMITS,
               skip: Path | None = None, workers: int = 1
               ) -> Iterator[ScanResult | Unreadable | Skipped]:
    """Scan every regular file under ``roots`` (any depth, symlinks below a root skipped).

    Results come in a stable order (sorted names, folder by folder). A root that does not
    exist raises :class:`PacsguardError`, a folder with no files its :class:`ConfigError`,
    each naming it; a file that
    cannot be read is yielded as :class:`Unreadable` so one bad file does not hide the verdict
    on the rest. Files under ``skip`` (the disarm output folder) are left out. A disarm
    manifest (:func:`is_disarm_manifest`) met elsewhere, e.g. when the disarm folder itself
    is scanned, is not scanned: it is yielded as :class:`Skipped`, after the results.
    ``workers > 1`` scans in that many processes (in bounded memory: a few batches in
    flight).
    """
    skipped: list[Skipped] = []
    if workers <= 1:  # one by one: a caller stopping early reads no further
        for path in _files(roots, skip, skipped):
            yield from _scan_batch(limits, [path])
    else:
        for t in parallel_map(partial(_scan_packed, limits), _files(roots, skip, skipped),
                              workers, chunk=256):
            if len(t) == 2:
                yield Unreadable(*t)
            else:
                yield ScanResult(*t)
    yield from skipped
