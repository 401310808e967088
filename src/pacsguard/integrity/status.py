"""Verification statuses and the rule that compares a file with its recorded fingerprint.

Status rules (docs/verify.md):
- identical file bytes → ``intact``;
- otherwise compare digests. Pixels: when the transfer syntax is the one recorded, the stored
  pixel digests must match; when it differs, the *decoded* pixel digests must match (lossless
  transcoding is not tampering). Then the clinical digest, then the header digest.
- One status per instance, by precedence pixels_altered > identity_altered > header_altered;
  the detail names every difference found.
- All digests equal but other bytes differ (File Meta Information, group lengths, the
  rewritable attributes, padding, transfer syntax) → ``intact``, with a detail saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pacsguard.dicom.pixels import decoded_digest_of_file
from pacsguard.dicom.walker import NATIVE_SYNTAXES
from pacsguard.errors import DicomReadError
from pacsguard.integrity.fingerprint import Fingerprint
from pacsguard.integrity.profile import CLINICAL_TAGS


class Status(StrEnum):
    INTACT = "intact"
    CORRUPTED = "corrupted"
    PIXELS_ALTERED = "pixels_altered"
    HEADER_ALTERED = "header_altered"
    IDENTITY_ALTERED = "identity_altered"
    MISSING = "missing"
    UNRECORDED = "unrecorded"
    DUPLICATE = "duplicate"
    LEDGER_TAMPERED = "ledger_tampered"


#: How bad each status is, for sorting and summaries (worst first).
SEVERITY = {
    Status.LEDGER_TAMPERED: 0,
    Status.PIXELS_ALTERED: 1,
    Status.IDENTITY_ALTERED: 2,
    Status.MISSING: 3,
    Status.CORRUPTED: 4,
    Status.UNRECORDED: 5,
    Status.DUPLICATE: 6,
    Status.HEADER_ALTERED: 7,
    Status.INTACT: 8,
}


@dataclass(frozen=True)
class Finding:
    """One verification result: what happened to which instance, where, and why we say so."""

    status: Status
    sop_instance_uid: str
    path: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status.value, "sop_instance_uid": self.sop_instance_uid,
                "path": self.path, "detail": self.detail}


def changed_attributes(recorded: dict[int, bytes], current: Fingerprint) -> list[str]:
    """Keywords of clinical attributes whose keyed digests differ (added/removed count too)."""
    now = dict(current.clinical_attrs)
    tags = sorted(set(recorded) | set(now))
    return [CLINICAL_TAGS.get(t, f"{t:08X}") for t in tags if recorded.get(t) != now.get(t)]


def compare(recorded: Fingerprint, recorded_attrs: dict[int, bytes], current: Fingerprint,
            path: Path) -> tuple[Status, str]:
    """The status of ``current`` (read from ``path``) against the recorded fingerprint."""
    if current.file_sha256 == recorded.file_sha256:
        return Status.INTACT, ""
    problems: list[tuple[Status, str]] = []
    ts_changed = current.transfer_syntax != recorded.transfer_syntax
    if not ts_changed:
        if current.pixel_sha256 != recorded.pixel_sha256:
            problems.append((Status.PIXELS_ALTERED, "stored pixel data differs from the record"))
    elif recorded.decoded_pixel_sha256 is None:
        problems.append((
            Status.PIXELS_ALTERED,
            f"transfer syntax changed from {recorded.transfer_syntax} to "
            f"{current.transfer_syntax}, and no decoded-pixel digest was recorded for the "
            "compressed original, so equal pixels cannot be proven (record compressed "
            "instances with --decode-compressed to allow this check)",
        ))
    else:
        decoded = current.decoded_pixel_sha256
        if decoded is None or current.transfer_syntax not in NATIVE_SYNTAXES:
            try:
                decoded = decoded_digest_of_file(path)
            except DicomReadError as exc:
                problems.append((Status.PIXELS_ALTERED, str(exc)))
                decoded = None
        if decoded is not None and decoded != recorded.decoded_pixel_sha256:
            problems.append((
                Status.PIXELS_ALTERED,
                f"decoded pixels differ from the record (transfer syntax changed from "
                f"{recorded.transfer_syntax} to {current.transfer_syntax})",
            ))
    if current.clinical_sha256 != recorded.clinical_sha256:
        # attribute digests on both sides, or none can be named (no attr.key here)
        names = (changed_attributes(recorded_attrs, current)
                 if recorded_attrs and current.clinical_attrs else [])
        what = ", ".join(names) if names else "patient/examination attributes"
        problems.append((Status.IDENTITY_ALTERED, f"clinical attributes changed: {what}"))
    if current.header_sha256 != recorded.header_sha256:
        problems.append((Status.HEADER_ALTERED, "header attributes differ from the record"))
    if not problems:
        note = "file bytes differ only in parts archives may rewrite"
        if ts_changed:
            note = (f"losslessly transcoded from {recorded.transfer_syntax} to "
                    f"{current.transfer_syntax}; decoded pixels and header match the record")
        return Status.INTACT, note
    problems.sort(key=lambda p: SEVERITY[p[0]])
    return problems[0][0], "; ".join(d for _, d in problems)
