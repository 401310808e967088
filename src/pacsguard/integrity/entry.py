"""The canonical, versioned byte encoding of a ledger entry (docs/ledger.md §Entry encoding).

The Merkle leaf is SHA-256(0x00 || entry bytes) (RFC 9162 §2.1.1), so these bytes are what a
third party checks an inclusion proof against. Version 1:

    b"pacsguard-entry/1\\n"
    then, for each field in the order of ``FIELDS``: u32 big-endian length || field bytes

Strings are UTF-8; digests are raw bytes (32, or 0 when absent); integers are decimal ASCII
(``supersedes`` is empty when the entry supersedes nothing). Decoding is strict: an unknown
version, a missing or extra field, or a bad length is an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pacsguard.errors import LedgerError
from pacsguard.integrity.fingerprint import Equipment, Fingerprint

MAGIC = b"pacsguard-entry/1\n"
FIELDS = (
    "kind", "sop_class_uid", "sop_instance_uid", "study_instance_uid", "series_instance_uid",
    "transfer_syntax", "file_size", "file_sha256", "pixel_sha256", "decoded_pixel_sha256",
    "header_sha256", "clinical_sha256", "header_profile", "manufacturer", "model",
    "software_versions", "serial_number", "station_name", "institution", "modality",
    "recorded_at", "supersedes", "reason",
)
_BYTES_FIELDS = frozenset({"file_sha256", "pixel_sha256", "decoded_pixel_sha256",
                           "header_sha256", "clinical_sha256"})
_u32 = struct.Struct(">I")
KINDS = ("record", "supersede")


@dataclass(frozen=True)
class LedgerEntry:
    """One leaf of the ledger: an instance's fingerprint when it was recorded."""

    fingerprint: Fingerprint
    recorded_at: str  # RFC 3339 UTC, seconds, e.g. 2026-11-27T21:00:00Z
    kind: str = "record"
    supersedes: int | None = None  # leaf index of the entry this one replaces
    reason: str = ""

    def encode(self) -> bytes:
        fp = self.fingerprint
        eq = fp.equipment
        values: dict[str, bytes | str] = {
            "kind": self.kind,
            "sop_class_uid": fp.sop_class_uid,
            "sop_instance_uid": fp.sop_instance_uid,
            "study_instance_uid": fp.study_instance_uid,
            "series_instance_uid": fp.series_instance_uid,
            "transfer_syntax": fp.transfer_syntax,
            "file_size": str(fp.file_size),
            "file_sha256": fp.file_sha256,
            "pixel_sha256": fp.pixel_sha256 or b"",
            "decoded_pixel_sha256": fp.decoded_pixel_sha256 or b"",
            "header_sha256": fp.header_sha256,
            "clinical_sha256": fp.clinical_sha256,
            "header_profile": fp.header_profile,
            "manufacturer": eq.manufacturer,
            "model": eq.model,
            "software_versions": "\\".join(eq.software_versions),
            "serial_number": eq.serial_number,
            "station_name": eq.station_name,
            "institution": eq.institution,
            "modality": eq.modality,
            "recorded_at": self.recorded_at,
            "supersedes": "" if self.supersedes is None else str(self.supersedes),
            "reason": self.reason,
        }
        parts = [MAGIC]
        for name in FIELDS:
            v = values[name]
            b = v.encode("utf-8") if isinstance(v, str) else v
            parts.append(_u32.pack(len(b)))
            parts.append(b)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> LedgerEntry:
        if not data.startswith(MAGIC):
            raise LedgerError("ledger entry has an unknown encoding version (expected "
                              "pacsguard-entry/1)")
        pos = len(MAGIC)
        raw: dict[str, bytes] = {}
        for name in FIELDS:
            if pos + 4 > len(data):
                raise LedgerError(f"ledger entry is truncated before field {name!r}")
            (n,) = _u32.unpack_from(data, pos)
            pos += 4
            if pos + n > len(data):
                raise LedgerError(f"ledger entry field {name!r} runs past the end")
            raw[name] = data[pos : pos + n]
            pos += n
        if pos != len(data):
            raise LedgerError("ledger entry has trailing bytes after its last field")
        try:
            s = {k: v.decode("utf-8") for k, v in raw.items() if k not in _BYTES_FIELDS}
            kind = s["kind"]
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            for name in _BYTES_FIELDS:
                if len(raw[name]) not in (0, 32):
                    raise ValueError(f"{name} is {len(raw[name])} bytes, not 32")
            fp = Fingerprint(
                sop_class_uid=s["sop_class_uid"],
                sop_instance_uid=s["sop_instance_uid"],
                study_instance_uid=s["study_instance_uid"],
                series_instance_uid=s["series_instance_uid"],
                transfer_syntax=s["transfer_syntax"],
                file_size=int(s["file_size"]),
                file_sha256=raw["file_sha256"],
                pixel_sha256=raw["pixel_sha256"] or None,
                decoded_pixel_sha256=raw["decoded_pixel_sha256"] or None,
                header_sha256=raw["header_sha256"],
                clinical_sha256=raw["clinical_sha256"],
                header_profile=s["header_profile"],
                equipment=Equipment(
                    manufacturer=s["manufacturer"],
                    model=s["model"],
                    software_versions=tuple(v for v in s["software_versions"].split("\\") if v),
                    serial_number=s["serial_number"],
                    station_name=s["station_name"],
                    institution=s["institution"],
                    modality=s["modality"],
                ),
            )
            return cls(
                fingerprint=fp,
                recorded_at=s["recorded_at"],
                kind=kind,
                supersedes=int(s["supersedes"]) if s["supersedes"] else None,
                reason=s["reason"],
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise LedgerError(f"ledger entry is malformed: {exc}") from None
