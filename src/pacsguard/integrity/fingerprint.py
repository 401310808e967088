"""The fingerprint of one DICOM instance (issue #2 §2; docs/fingerprint.md).

A :class:`Fingerprint` is computed in one streaming pass over the file without decoding pixels
(:mod:`pacsguard.dicom.walker`). It names the instance (SOP Class/Instance, Study, Series,
transfer syntax), carries four digests (file, stored pixels, canonical header, clinical
attributes), the decoded-pixel digest where it comes for free, and the equipment facts used by
the inventory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import struct
from dataclasses import dataclass
from pathlib import Path

from pacsguard.dicom import tags
from pacsguard.dicom.equipment import Equipment
from pacsguard.dicom.tags import (
    LOSSY_IMAGE_COMPRESSION,
    PHOTOMETRIC_INTERPRETATION,
    PLANAR_CONFIGURATION,
)
from pacsguard.dicom.uids import NATIVE_SYNTAXES
from pacsguard.dicom.walker import FINGERPRINT_VERSION, WalkResult, walk
from pacsguard.errors import DicomReadError
from pacsguard.integrity.profile import CLINICAL_TAGS, DEFAULT_PROFILE, HeaderProfile

_CLINICAL = frozenset(CLINICAL_TAGS)
_pack_tag = struct.Struct(">I").pack
_pack_len = struct.Struct(">I").pack


@dataclass(frozen=True)
class Fingerprint:
    """What the ledger records of one instance."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax: str
    file_size: int
    file_sha256: bytes
    pixel_sha256: bytes | None
    decoded_pixel_sha256: bytes | None
    header_sha256: bytes
    clinical_sha256: bytes
    header_profile: str
    equipment: Equipment
    #: keyed 8-byte digest per clinical attribute present, (tag, digest) sorted by tag; lets the
    #: verifier name *which* attribute changed without storing patient data (docs/fingerprint.md)
    clinical_attrs: tuple[tuple[int, bytes], ...] = ()
    #: fingerprint version: 2 since entries ``pacsguard-entry/2``; 1 for older entries, whose
    #: header digest includes nested pixel data and the codec attributes below
    version: int = FINGERPRINT_VERSION
    #: version 2: pixel data inside items (icons), stored and canonical decoded digests
    nested_sha256: bytes | None = None
    nested_decoded_sha256: bytes | None = None
    #: version 2: the codec attributes compared by rule, not digest: Photometric
    #: Interpretation (0028,0004), Planar Configuration (0028,0006) as a decimal number and
    #: Lossy Image Compression (0028,2110); "" when absent
    photometric_interpretation: str = ""
    planar_configuration: str = ""
    lossy_image_compression: str = ""
    #: version 2: public elements whose explicit VR reads the value otherwise than the
    #: dictionary does, "path:VR" in file order (docs/fingerprint.md, "Value representations")
    vr_deviations: tuple[str, ...] = ()

    @property
    def has_pixels(self) -> bool:
        return self.pixel_sha256 is not None

    @property
    def compressed(self) -> bool:
        """Pixel data stored in an encapsulated (compressed) transfer syntax."""
        return self.has_pixels and self.transfer_syntax not in NATIVE_SYNTAXES


def _clean(value: bytes) -> bytes:
    return value.rstrip(b" \x00")


def _text(value: bytes | None) -> str:
    if not value:
        return ""
    raw = _clean(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


_CLINICAL_ORDER = tuple(sorted(_CLINICAL))
_ABSENT = {tag: _pack_tag(tag) + b"\x00" for tag in _CLINICAL_ORDER}
_PRESENT = {tag: _pack_tag(tag) + b"\x01" for tag in _CLINICAL_ORDER}


def clinical_digest(clinical: dict[int, bytes]) -> bytes:
    """SHA-256 over every clinical tag in order: tag, presence, length, unpadded value."""
    parts = [b"pacsguard-clinical-v1\n"]
    for tag in _CLINICAL_ORDER:
        value = clinical.get(tag)
        if value is None:
            parts.append(_ABSENT[tag])
        else:
            v = value.rstrip(b" \x00")
            parts.append(_PRESENT[tag])
            parts.append(_pack_len(len(v)))
            parts.append(v)
    return hashlib.sha256(b"".join(parts)).digest()


def clinical_attr_digests(clinical: dict[int, bytes], key: bytes) -> tuple[tuple[int, bytes], ...]:
    """Keyed BLAKE2b (8 bytes) per clinical attribute present; the key stays on this machine.

    Written as BLAKE2b keyed once, then copied per attribute with the tag prepended: setting
    up a keyed BLAKE2b per attribute cost as much as the rest of the clinical work (measured).
    """
    base = _keyed(key)
    out = []
    for tag in sorted(clinical):
        h = base.copy()
        h.update(_pack_tag(tag) + clinical[tag].rstrip(b" \x00"))
        out.append((tag, h.digest()))
    return tuple(out)


_KEYED: dict[bytes, hashlib.blake2b] = {}


def _keyed(key: bytes) -> hashlib.blake2b:
    base = _KEYED.get(key)
    if base is None:
        base = _KEYED[key] = hashlib.blake2b(digest_size=8, key=key)
    return base


def from_walk(r: WalkResult, name: str, profile: HeaderProfile,
              attr_key: bytes | None) -> Fingerprint:
    kept = r.kept
    sop_instance = _text(kept.get(tags.SOP_INSTANCE_UID)) or r.meta_sop_instance_uid
    if not sop_instance:
        raise DicomReadError(f"{name}: no SOP Instance UID (0008,0018); not a storable instance")
    versions = tuple(v for v in _text(kept.get(tags.SOFTWARE_VERSIONS)).split("\\") if v.strip())
    planar = kept.get(PLANAR_CONFIGURATION, b"")
    return Fingerprint(
        sop_class_uid=_text(kept.get(tags.SOP_CLASS_UID)) or r.meta_sop_class_uid,
        sop_instance_uid=sop_instance,
        study_instance_uid=_text(kept.get(tags.STUDY_INSTANCE_UID)),
        series_instance_uid=_text(kept.get(tags.SERIES_INSTANCE_UID)),
        transfer_syntax=r.transfer_syntax,
        file_size=r.file_size,
        file_sha256=r.file_sha256,
        pixel_sha256=r.pixel_sha256,
        decoded_pixel_sha256=r.decoded_pixel_sha256,
        header_sha256=r.header_sha256,
        clinical_sha256=clinical_digest(r.clinical),
        header_profile=profile.id,
        equipment=Equipment(
            manufacturer=_text(kept.get(tags.MANUFACTURER)).strip(),
            model=_text(kept.get(tags.MODEL_NAME)).strip(),
            software_versions=tuple(v.strip() for v in versions),
            serial_number=_text(kept.get(tags.DEVICE_SERIAL_NUMBER)).strip(),
            station_name=_text(kept.get(tags.STATION_NAME)).strip(),
            institution=_text(kept.get(tags.INSTITUTION_NAME)).strip(),
            modality=_text(kept.get(tags.MODALITY)).strip(),
        ),
        clinical_attrs=clinical_attr_digests(r.clinical, attr_key) if attr_key else (),
        nested_sha256=r.nested_sha256,
        nested_decoded_sha256=r.nested_decoded_sha256,
        photometric_interpretation=_text(kept.get(PHOTOMETRIC_INTERPRETATION)).strip(),
        planar_configuration=str(struct.unpack_from("<H", planar)[0]) if len(planar) >= 2
        else "",
        lossy_image_compression=_text(kept.get(LOSSY_IMAGE_COMPRESSION)).strip(),
        vr_deviations=tuple(r.vr_deviations),
    )


def fingerprint_file(path: Path, profile: HeaderProfile = DEFAULT_PROFILE,
                     attr_key: bytes | None = None) -> Fingerprint:
    """Fingerprint one file; ``DicomReadError`` names the file and what is wrong with it."""
    name = str(path)
    try:
        with open(path, "rb") as f:
            r = walk(f, name, profile.tags, _CLINICAL)
    except PermissionError:
        raise DicomReadError(
            f"{name}: permission denied; give the user running pacsguard read access"
        ) from None
    except IsADirectoryError:
        raise DicomReadError(f"{name}: is a directory, not a file") from None
    except OSError as exc:
        raise DicomReadError(f"{name}: cannot be read ({exc.strerror or exc})") from None
    return from_walk(r, name, profile, attr_key)


def fingerprint_bytes(data: bytes, name: str, profile: HeaderProfile = DEFAULT_PROFILE,
                      attr_key: bytes | None = None) -> Fingerprint:
    """Fingerprint an encoded file held in memory (the gateway's received instance); the
    same digests as :func:`fingerprint_file` over the same bytes."""
    r = walk(io.BytesIO(data), name, profile.tags, _CLINICAL)
    return from_walk(r, name, profile, attr_key)


def legacy_header_digest(source: Path | bytes, profile: HeaderProfile) -> bytes:
    """The header digest as fingerprint version 1 defined it, for entries recorded then."""
    name = str(source) if isinstance(source, Path) else "<received>"
    if isinstance(source, bytes):
        return walk(io.BytesIO(source), name, profile.tags, _CLINICAL, version=1).header_sha256
    with open(source, "rb") as f:
        return walk(f, name, profile.tags, _CLINICAL, version=1).header_sha256


def complete_decoded(fp: Fingerprint, source: Path | bytes,
                     profile: HeaderProfile) -> tuple[Fingerprint, str]:
    """Add the decoded digests the walk could not compute (compressed pixel data, icons, native
    layouts without a canonical form of their own), decoding with pydicom.

    What ``record`` and the gateway store by default, so that a later lossless transcode by the
    archive is provable (docs/fingerprint.md, "Transcoding"). Returns the fingerprint and a note:
    empty, or why some pixel data could not be decoded (the instance is still recorded; a later
    change of its transfer syntax then cannot be proven lossless).
    """
    from pacsguard.dicom.pixels import decoded_digest_of_file, decoded_nested_digest

    name = str(source) if isinstance(source, Path) else "<received>"
    notes: list[str] = []
    if fp.has_pixels and fp.decoded_pixel_sha256 is None:
        try:
            fp = dataclasses.replace(fp, decoded_pixel_sha256=decoded_digest_of_file(source,
                                                                                      name))
        except DicomReadError as exc:
            notes.append(str(exc))
    if fp.nested_sha256 is not None and fp.nested_decoded_sha256 is None:
        try:
            fp = dataclasses.replace(fp, nested_decoded_sha256=decoded_nested_digest(
                source, profile.tags, name))
        except DicomReadError as exc:
            notes.append(str(exc))
    return fp, "; ".join(notes)
