"""The canonical, versioned byte encoding of a ledger entry (docs/ledger.md §Entry encoding).

The Merkle leaf is SHA-256(0x00 || entry bytes) (RFC 9162 §2.1.1), so these bytes are what a
third party checks an inclusion proof against. Version 2 (written since fingerprint version 2):

    b"pacsguard-entry/2\\n"
    || the 29 field lengths, each u32 big-endian, in the order of ``FIELDS_V2``
    || the 29 field values, concatenated in the same order

Version 1 (``pacsguard-entry/1``, 23 fields, ``FIELDS_V1``) is still read: ledgers are
append-only, and entries recorded before version 2 keep their meaning (the verifier compares
them with fingerprint version 1's header digest).

Strings are UTF-8; digests are raw bytes (32, or 0 when absent); integers are decimal ASCII
(``supersedes`` is empty when the entry supersedes nothing); ``vr_deviations`` is one
``path:VR`` per line. Decoding is strict: an unknown version, a missing or extra field, or a
bad length is an error.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import StrEnum

from pacsguard.dicom.equipment import Equipment
from pacsguard.errors import LedgerError
from pacsguard.integrity.fingerprint import Fingerprint

MAGIC_V1 = b"pacsguard-entry/1\n"
MAGIC = b"pacsguard-entry/2\n"
FIELDS_V1 = (
    "kind", "sop_class_uid", "sop_instance_uid", "study_instance_uid", "series_instance_uid",
    "transfer_syntax", "file_size", "file_sha256", "pixel_sha256", "decoded_pixel_sha256",
    "header_sha256", "clinical_sha256", "header_profile", "manufacturer", "model",
    "software_versions", "serial_number", "station_name", "institution", "modality",
    "recorded_at", "supersedes", "reason",
)
FIELDS_V2 = (*FIELDS_V1, "nested_sha256", "nested_decoded_sha256",
             "photometric_interpretation", "planar_configuration", "lossy_image_compression",
             "vr_deviations")
_BYTES_FIELDS = frozenset({"file_sha256", "pixel_sha256", "decoded_pixel_sha256",
                           "header_sha256", "clinical_sha256", "nested_sha256",
                           "nested_decoded_sha256"})
_LENGTHS = {MAGIC_V1: struct.Struct(">23I"), MAGIC: struct.Struct(">29I")}
_FIELDS = {MAGIC_V1: FIELDS_V1, MAGIC: FIELDS_V2}
_UID = FIELDS_V1.index("sop_instance_uid")
_FILE_SHA = FIELDS_V1.index("file_sha256")
_MAGIC_LEN = len(MAGIC)
assert len(MAGIC_V1) == _MAGIC_LEN


class EntryKind(StrEnum):
    """What an entry says of its instance: the first field of every entry."""

    RECORD = "record"  # the instance as first recorded
    #: a changed version the operator accepted, with a reason; names the leaf it replaces
    SUPERSEDE = "supersede"


_KINDS = {k.value: k for k in EntryKind}


def _layout(data: bytes) -> tuple[bytes, tuple[int, ...], int]:
    """(magic, field lengths, offset of the first value) of encoded entry bytes."""
    magic = data[:_MAGIC_LEN]
    lengths = _LENGTHS.get(magic)
    if lengths is None:
        raise LedgerError("ledger entry has an unknown encoding version (expected "
                          "pacsguard-entry/1 or /2)")
    head = _MAGIC_LEN + lengths.size
    if len(data) < head:
        raise LedgerError("ledger entry is truncated inside its length table")
    return magic, lengths.unpack_from(data, _MAGIC_LEN), head


def entry_key_fields(data: bytes) -> tuple[str, bytes]:
    """(SOP Instance UID, file SHA-256) of encoded entry bytes, without decoding the rest.

    The verifier's snapshot needs only these two of every entry; slicing them out by the
    length table is several times faster than a full decode (measured on 5,000 entries).
    """
    _, lengths, head = _layout(data)
    if head + sum(lengths) != len(data):
        raise LedgerError("ledger entry lengths do not add up to its size")
    start = head + sum(lengths[:_UID])
    sha_start = head + sum(lengths[:_FILE_SHA])
    try:
        uid = data[start : start + lengths[_UID]].decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError("ledger entry's SOP Instance UID is not UTF-8") from None
    return uid, data[sha_start : sha_start + lengths[_FILE_SHA]]


_LENGTHS_V2 = _LENGTHS[MAGIC]


@dataclass(frozen=True)
class LedgerEntry:
    """One leaf of the ledger: an instance's fingerprint when it was recorded."""

    fingerprint: Fingerprint
    recorded_at: str  # RFC 3339 UTC, seconds, e.g. 2026-11-27T21:00:00Z
    kind: EntryKind = EntryKind.RECORD
    supersedes: int | None = None  # leaf index of the entry this one replaces
    reason: str = ""

    def encode(self) -> bytes:
        """Version 2 bytes; a version-1 fingerprint cannot be re-encoded (entries are
        written once, and only by this version)."""
        fp = self.fingerprint
        if fp.version != 2:
            raise LedgerError(f"cannot encode a version {fp.version} fingerprint as a new entry")
        eq = fp.equipment
        # order must match FIELDS_V2; written out flat because append speed depends on it
        values = (
            self.kind.encode(), fp.sop_class_uid.encode(), fp.sop_instance_uid.encode(),
            fp.study_instance_uid.encode(), fp.series_instance_uid.encode(),
            fp.transfer_syntax.encode(), str(fp.file_size).encode(), fp.file_sha256,
            fp.pixel_sha256 or b"", fp.decoded_pixel_sha256 or b"", fp.header_sha256,
            fp.clinical_sha256, fp.header_profile.encode(), eq.manufacturer.encode(),
            eq.model.encode(), "\\".join(eq.software_versions).encode(),
            eq.serial_number.encode(), eq.station_name.encode(), eq.institution.encode(),
            eq.modality.encode(), self.recorded_at.encode(),
            b"" if self.supersedes is None else str(self.supersedes).encode(),
            self.reason.encode(), fp.nested_sha256 or b"", fp.nested_decoded_sha256 or b"",
            fp.photometric_interpretation.encode(), fp.planar_configuration.encode(),
            fp.lossy_image_compression.encode(),
            "\n".join(fp.vr_deviations).encode(),
        )
        return MAGIC + _LENGTHS_V2.pack(*map(len, values)) + b"".join(values)

    @classmethod
    def decode(cls, data: bytes) -> LedgerEntry:
        magic, lengths, pos = _layout(data)
        raw: dict[str, bytes] = {}
        for name, n in zip(_FIELDS[magic], lengths, strict=True):
            if pos + n > len(data):
                raise LedgerError(f"ledger entry field {name!r} runs past the end")
            raw[name] = data[pos : pos + n]
            pos += n
        if pos != len(data):
            raise LedgerError("ledger entry has trailing bytes after its last field")
        try:
            s = {k: v.decode("utf-8") for k, v in raw.items() if k not in _BYTES_FIELDS}
            kind = _KINDS.get(s["kind"])
            if kind is None:
                raise ValueError(f"unknown kind {s['kind']!r}")
            for name in _BYTES_FIELDS & raw.keys():
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
                version=1 if magic == MAGIC_V1 else 2,
                nested_sha256=raw.get("nested_sha256") or None,
                nested_decoded_sha256=raw.get("nested_decoded_sha256") or None,
                photometric_interpretation=s.get("photometric_interpretation", ""),
                planar_configuration=s.get("planar_configuration", ""),
                lossy_image_compression=s.get("lossy_image_compression", ""),
                vr_deviations=tuple(v for v in s.get("vr_deviations", "").split("\n") if v),
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
