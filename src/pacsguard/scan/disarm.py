"""Disarm: a copy with the preamble zeroed and active content neutralised; never the original.

How (docs/scan.md, "Disarm"):

- the 128-byte preamble (PS3.10 §7.1) is set to zero, whatever it held (CVE-2019-11687);
- each value the scan flagged (a hidden executable, archive or markup, an encapsulated
  document with active content) is overwritten with zero bytes *of the same length*, so no
  length, item or offset table changes and every other byte stays as it was;
- bytes after the data set are cut off;
- a Deflated data set (PS3.5 §A.5) is inflated, patched and deflated again.

The copy is then scanned again; what that scan still finds is reported as ``remaining`` (a
malformed structure, for instance, cannot be disarmed). :func:`disarm_file` writes the copy
as ``OUT_DIR/<original sha256>.dcm`` (content-addressed: no patient data in the name) and
appends one JSON line to ``OUT_DIR/manifest.jsonl`` relating original and copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacsguard import __version__
from pacsguard.dates import utc_now
from pacsguard.errors import ConfigError, DicomReadError
from pacsguard.files import write_fully
from pacsguard.findings import Finding, Severity
from pacsguard.scan.api import MANIFEST, scan_bytes
from pacsguard.scan.layout import PREAMBLE
from pacsguard.scan.model import DEFAULT_LIMITS, Limits, Removal, ScanResult

__all__ = ["MANIFEST", "DisarmRecord", "Disarmed", "disarm_bytes", "disarm_file"]


@dataclass(frozen=True)
class Disarmed:
    """The disarmed bytes, what was removed, and what a scan of them still finds."""

    data: bytes
    removed: tuple[Removal, ...]
    remaining: tuple[Finding, ...]


@dataclass(frozen=True)
class DisarmRecord:
    """One manifest line: which original became which copy, and what was removed."""

    original_path: str
    original_sha256: str
    original_size: int
    disarmed_path: str
    disarmed_sha256: str
    disarmed_size: int
    removed: tuple[Removal, ...]
    remaining: tuple[str, ...]  # finding ids a scan of the copy still reports (above info)
    disarmed_at: str  # UTC, ISO 8601

    def as_dict(self) -> dict[str, Any]:
        return {
            "original_path": self.original_path, "original_sha256": self.original_sha256,
            "original_size": self.original_size, "disarmed_path": self.disarmed_path,
            "disarmed_sha256": self.disarmed_sha256, "disarmed_size": self.disarmed_size,
            "removed": [{"finding": r.finding_id, "what": r.what, "offset": r.start,
                         "length": r.end - r.start, "action": "cut" if r.truncate else "zeroed",
                         "in": "inflated data set" if r.inflated else "file"}
                        for r in self.removed],
            "remaining": list(self.remaining), "disarmed_at": self.disarmed_at,
            "tool": f"pacsguard {__version__}",
        }


def _apply(buf: bytearray, removals: list[Removal]) -> bytearray:
    cut = len(buf)
    for r in removals:
        if r.truncate:
            cut = min(cut, r.start)
        else:
            end = min(r.end, len(buf))
            if r.start < end:
                buf[r.start : end] = bytes(end - r.start)
    del buf[cut:]
    return buf


def _unique(removals: tuple[Removal, ...]) -> tuple[Removal, ...]:
    seen: set[tuple[int, int, bool, bool]] = set()
    out = []
    for r in removals:
        key = (r.start, r.end, r.truncate, r.inflated)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return tuple(out)


def disarm_bytes(data: bytes, result: ScanResult | None = None, *, name: str = "<bytes>",
                 limits: Limits = DEFAULT_LIMITS) -> Disarmed:
    """Disarm ``data`` in memory. ``result`` must be ``scan_bytes(data)``'s (it is scanned
    again when omitted). Raises :class:`DicomReadError` when ``data`` is not DICOM."""
    if result is None or result.size != len(data):
        result = scan_bytes(data, name, limits=limits)
    if not result.dicom:
        raise DicomReadError(f"{result.subject}: not a DICOM file; there is nothing to disarm "
                             "(reject or delete it)")
    removed = _unique(result.removals)
    out = bytearray(data)
    if out[PREAMBLE : PREAMBLE + 4] == b"DICM":
        out[:PREAMBLE] = bytes(PREAMBLE)
    raw = [r for r in removed if not r.inflated]
    inflated = [r for r in removed if r.inflated]
    if inflated:
        # PS3.5 §A.5: patch the inflated data set, deflate it again; raw removals after the
        # data set start (trailing bytes, a ZIP end record) disappear with the old stream
        start = result.dataset_offset
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        dataset = bytearray(inflater.decompress(bytes(out[start:]), limits.max_inflated))
        if not inflater.unconsumed_tail:
            dataset += inflater.flush()
        _apply(dataset, inflated)
        deflater = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        out = _apply(out[:start], [r for r in raw if r.end <= start])
        out += deflater.compress(bytes(dataset)) + deflater.flush()
    else:
        _apply(out, raw)
    copy = bytes(out)
    again = scan_bytes(copy, result.subject, limits=limits)
    remaining = tuple(f for f in again.findings if f.severity > Severity.INFO)
    return Disarmed(copy, removed, remaining)


def disarm_file(path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
                limits: Limits = DEFAULT_LIMITS) -> DisarmRecord:
    """Write a disarmed copy of ``path`` into ``out_dir`` and append it to the manifest.

    The original is opened read-only and scanned again from the bytes read, so the copy and
    the recorded SHA-256 describe the same content even if the file changed since an earlier
    scan. Raises :class:`DicomReadError` (unreadable, not DICOM) or :class:`ConfigError`
    (the output folder cannot be written, or would overwrite the original).
    """
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise DicomReadError(f"{name}: cannot be read ({exc.strerror})") from None
    disarmed = disarm_bytes(data, scan_bytes(data, name, limits=limits), limits=limits)
    original_sha = hashlib.sha256(data).hexdigest()
    folder = Path(out_dir).expanduser().resolve()
    target = folder / f"{original_sha}.dcm"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if target.exists() and os.path.samefile(target, name):
            raise ConfigError(f"{target}: is the original file; choose another --disarm "
                              "folder (the original is never modified)")
        fd, tmp = tempfile.mkstemp(prefix=".disarm-", suffix=".tmp", dir=folder)
        try:
            try:
                write_fully(fd, disarmed.data)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        record = DisarmRecord(
            str(Path(name).resolve()), original_sha, len(data), str(target),
            hashlib.sha256(disarmed.data).hexdigest(), len(disarmed.data), disarmed.removed,
            tuple(dict.fromkeys(f.id for f in disarmed.remaining)), utc_now())
        line = (json.dumps(record.as_dict(), ensure_ascii=False) + "\n").encode()
        mfd = os.open(folder / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            write_fully(mfd, line)
        finally:
            os.close(mfd)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot write the disarmed copy there "
                          f"({exc.strerror}); check the --disarm folder") from None
    return record
