"""Verification statuses and the rule that compares a file with its recorded fingerprint.

Status rules (docs/verify.md, docs/fingerprint.md):
- identical file bytes → ``intact``;
- otherwise compare digests. Pixels: equal stored pixel digests (and Planar Configuration), or
  else equal *decoded* pixel digests (lossless transcoding or re-encoding is not tampering);
  then the icons (nested pixel data) the same way, the codec attributes by rule, the clinical
  digest, the header digest, and the value representations.
- One status per instance, by precedence pixels_altered > identity_altered > header_altered >
  needs_review; the detail names every difference found.
- ``needs_review`` when the rule cannot decide: the original was lossy-compressed and was
  decoded by another decoder (which may round differently), or the pixel data is in a transfer
  syntax nothing here can decode, or the record holds no decoded digest to compare with.
- All digests equal but other bytes differ (File Meta Information, group lengths, the
  rewritable attributes, padding, transfer syntax) → ``intact``, with a detail saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pacsguard.dicom._dictionary import DICTIONARY_VR
from pacsguard.dicom.uids import EXPLICIT_BE as BIG_ENDIAN
from pacsguard.dicom.uids import (
    J2K_SYNTAXES,
    LOSSY_SYNTAXES,
    MAYBE_LOSSY,
    NATIVE_SYNTAXES,
    transfer_syntax_name,
)
from pacsguard.errors import DicomReadError
from pacsguard.integrity.fingerprint import Fingerprint, legacy_header_digest
from pacsguard.integrity.profile import CLINICAL_TAGS, DEFAULT_PROFILE, HeaderProfile


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
    NEEDS_REVIEW = "needs_review"


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
    Status.NEEDS_REVIEW: 8,
    Status.INTACT: 9,
}


@dataclass(frozen=True)
class Discrepancy:
    """One verification result: what happened to which instance, where, and why we say so.

    Not a :class:`pacsguard.findings.Finding` (a scanner's or an assessment's finding, with a
    rule id and a severity): this is what ``verify`` found of one instance against the ledger.
    Reports still call these findings (``--format json`` writes one object per finding)."""

    status: Status
    sop_instance_uid: str
    path: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"status": self.status.value, "sop_instance_uid": self.sop_instance_uid,
                "path": self.path, "detail": self.detail}


def _keyword(tag: int) -> str:
    from pydicom.datadict import keyword_for_tag

    return str(keyword_for_tag(tag) or "")


def ts_name(uid: str) -> str:
    """A transfer syntax's name for a finding ("JPEG-LS Lossless Image Compression"), its UID
    when pydicom does not know it."""
    return transfer_syntax_name(uid, with_uid=False)


_J2K_COLOUR = frozenset({"RGB", "YBR_RCT", "YBR_ICT"})
_JPEG_DECODED = {"YBR_FULL_422": frozenset({"YBR_FULL", "RGB"}), "YBR_FULL": frozenset({"RGB"})}


def photometric_change_allowed(recorded: Fingerprint, current: Fingerprint) -> bool:
    """A change of Photometric Interpretation (0028,0004) that a codec makes (PS3.5 §8.2):
    JPEG 2000 stores RGB as YBR_RCT or YBR_ICT (its decoders give RGB back), and a JPEG decoder
    outputs full-resolution YCbCr, or RGB, from YBR_FULL_422. Anything else (MONOCHROME1 for
    MONOCHROME2, colour for grey…) makes the same samples display differently."""
    was, now = recorded.photometric_interpretation, current.photometric_interpretation
    if was == now:
        return True
    if (recorded.transfer_syntax in J2K_SYNTAXES or current.transfer_syntax in J2K_SYNTAXES) \
            and {was, now} <= _J2K_COLOUR:
        return True  # also a J2K re-encoded with or without its colour transform
    if recorded.transfer_syntax == current.transfer_syntax:
        return False
    # decoded from JPEG (then stored native, or re-encoded losslessly)
    return recorded.transfer_syntax in LOSSY_SYNTAXES and now in _JPEG_DECODED.get(was, ())


def _lossy(fp: Fingerprint) -> bool:
    """Pixel data stored lossy-compressed, whose decoding may differ between conforming
    decoders (a native copy of once-lossy pixels is exact: it does not count)."""
    return fp.transfer_syntax in LOSSY_SYNTAXES or (
        fp.transfer_syntax in MAYBE_LOSSY and fp.lossy_image_compression == "01")


def _decoder_available(transfer_syntax: str) -> bool:
    from pydicom.pixels.decoders.base import get_decoder

    try:
        return bool(get_decoder(transfer_syntax).is_available)
    except Exception:  # pydicom raises NotImplementedError for syntaxes it does not know
        return False


def _lossy_coded(fp: Fingerprint) -> bool:
    """Pixel data stored in a lossy coding now (by its syntax; Lossy Image Compression "01"
    tells the image's history, not how the present bytes are coded)."""
    return fp.transfer_syntax in LOSSY_SYNTAXES


def _planar(fp: Fingerprint) -> str:
    """Planar Configuration, absent read as 0 (interleaved: PS3.3 C.7.6.3.1.3)."""
    return fp.planar_configuration or "0"


def _little_endian_native(fp: Fingerprint) -> bool:
    return fp.transfer_syntax in NATIVE_SYNTAXES and fp.transfer_syntax != BIG_ENDIAN


@dataclass
class _Comparison:
    recorded: Fingerprint
    current: Fingerprint
    source: Path | bytes
    profile: HeaderProfile
    problems: list[tuple[Status, str]]
    notes: list[str]

    def add(self, status: Status, detail: str) -> None:
        self.problems.append((status, detail))

    def change(self) -> str:
        rec, cur = self.recorded, self.current
        if rec.transfer_syntax == cur.transfer_syntax:
            return f"re-encoded in {ts_name(cur.transfer_syntax)}"
        return (f"transfer syntax changed from {ts_name(rec.transfer_syntax)} to "
                f"{ts_name(cur.transfer_syntax)}")

    def current_decoded(self, nested: bool) -> bytes | None:
        """The walk's decoded digest where it made one (native pixel data, whatever the syntax
        UID says); else the file decoded (encapsulated, or a layout the walk cannot
        transform). None: a problem was added saying why."""
        cur = self.current
        walked = cur.nested_decoded_sha256 if nested else cur.decoded_pixel_sha256
        return walked if walked is not None else self.decode_current(nested)

    def decode_current(self, nested: bool) -> bytes | None:
        """The current file's decoded digest (top level or nested), or None with the reason
        recorded as a problem (pixels_altered when a decoder exists and fails; needs_review
        when nothing here can decode the syntax)."""
        from pacsguard.dicom.pixels import decoded_digest_of_file, decoded_nested_digest

        cur = self.current
        try:
            if nested:
                return decoded_nested_digest(self.source, self.profile.tags)
            return decoded_digest_of_file(self.source)
        except DicomReadError as exc:
            if _decoder_available(cur.transfer_syntax):
                self.add(Status.HEADER_ALTERED if nested else Status.PIXELS_ALTERED, str(exc))
            else:
                self.add(Status.NEEDS_REVIEW,
                         f"{self.change()}; nothing here can decode "
                         f"{ts_name(cur.transfer_syntax)}, so equal pixels cannot be proven "
                         "(install the pydicom decoder plugin for it, or compare the images "
                         "by eye)")
            return None

    def pixels(self) -> None:
        rec, cur = self.recorded, self.current
        if rec.has_pixels != cur.has_pixels:
            self.add(Status.PIXELS_ALTERED, "pixel data was removed" if rec.has_pixels
                     else "pixel data was added where the record has none")
            return
        if not rec.has_pixels:
            return
        if rec.version >= 2 and not photometric_change_allowed(rec, cur):
            self.add(Status.PIXELS_ALTERED,
                     f"Photometric Interpretation (0028,0004) changed from "
                     f"{rec.photometric_interpretation or 'absent'} to "
                     f"{cur.photometric_interpretation or 'absent'}: the samples display "
                     "differently")
            return
        layout_same = rec.version == 1 or (
            _planar(rec) == _planar(cur)
            and rec.photometric_interpretation == cur.photometric_interpretation)
        if cur.pixel_sha256 == rec.pixel_sha256 and layout_same:
            return
        if _little_endian_native(rec) and _little_endian_native(cur) and layout_same:
            # Native little-endian pixel data reads the same in all these syntaxes, and
            # archives copy it byte for byte: the stored bytes must be the recorded ones, or
            # their canonical form (bits above Bits Stored cleared, as a lossless codec's round
            # trip leaves them). Bits above Bits Stored can hold an embedded overlay a viewer
            # shows, and bytes after the last sample can hide a payload: both are pixels.
            if rec.decoded_pixel_sha256 is not None and \
                    cur.pixel_sha256 == rec.decoded_pixel_sha256:
                self.notes.append("the bits above Bits Stored (or the bytes after the last "
                                  "sample) were cleared, as a lossless codec's round trip does")
                return
            self.add(Status.PIXELS_ALTERED, "stored pixel data differs from the record")
            return
        if rec.decoded_pixel_sha256 is None:
            if rec.compressed:
                why = (f"the original, compressed as {ts_name(rec.transfer_syntax)}, was "
                       "recorded without a decoded-pixel digest (recorded before pacsguard "
                       "decoded compressed images by default, or with --no-decode, or not "
                       "decodable then)")
            else:
                why = "the original's native pixel layout was recorded without a decoded digest"
            if cur.transfer_syntax == rec.transfer_syntax:
                what = ("stored pixel data differs from the record"
                        if cur.pixel_sha256 != rec.pixel_sha256 else
                        "Planar Configuration (0028,0006) changed over the same stored pixels")
                self.add(Status.PIXELS_ALTERED, f"{what}, and {why}")
            else:
                self.add(Status.NEEDS_REVIEW, f"{self.change()}; {why}, so equal pixels "
                         "cannot be proven")
            return
        decoded = self.current_decoded(nested=False)
        if decoded is None:
            return
        if decoded == rec.decoded_pixel_sha256:
            self.notes.append("decoded pixels match the record"
                              if rec.transfer_syntax != cur.transfer_syntax
                              else f"{self.change()}; decoded pixels match the record")
            return
        if _lossy(rec) and not _lossy_coded(cur):
            # the archive decoded the lossy original (the current pixels are native or
            # losslessly compressed): its decoder, not ours, made the samples
            self.add(Status.NEEDS_REVIEW,
                     f"{self.change()}; the original was lossy, and the archive's decoder "
                     "rounds otherwise than ours (decoders of lossy data may), so different "
                     "decoded pixels prove nothing either way: compare the images by eye, or "
                     "with the modality's copy")
            return
        what = ("decoded pixels differ from the record" if rec.pixel_sha256 != cur.pixel_sha256
                else "Planar Configuration (0028,0006) changed from "
                f"{rec.planar_configuration or 'absent'} to "
                f"{cur.planar_configuration or 'absent'} over the same stored pixels")
        if rec.transfer_syntax == cur.transfer_syntax:
            self.add(Status.PIXELS_ALTERED, f"{what} (stored pixel data differs too)"
                     if rec.pixel_sha256 != cur.pixel_sha256 else what)
        else:
            self.add(Status.PIXELS_ALTERED, f"{what} ({self.change()})")

    def icons(self) -> None:
        """Pixel data inside items (icons): stored, else decoded, digests (version 2)."""
        rec, cur = self.recorded, self.current
        if rec.nested_sha256 is None or cur.nested_sha256 is None:
            return  # added or removed: the header digest holds a marker for each
        if rec.nested_sha256 == cur.nested_sha256:
            return
        if rec.nested_decoded_sha256 is None:
            if rec.transfer_syntax != cur.transfer_syntax:
                self.add(Status.NEEDS_REVIEW, f"{self.change()}; an icon (pixel data inside "
                         "an item) was recorded without a decoded digest (--no-decode, or not "
                         "decodable then), so its equality cannot be proven")
            else:
                self.add(Status.HEADER_ALTERED, "an icon (pixel data inside an item) differs "
                         "from the record, which holds no decoded digest of it")
            return
        decoded = self.current_decoded(nested=True)
        if decoded is None:
            return
        if decoded == rec.nested_decoded_sha256:
            self.notes.append("icon re-encoded; its decoded pixels match the record")
        elif _lossy(rec) and not _lossy_coded(cur):
            self.add(Status.NEEDS_REVIEW, "an icon's decoded pixels differ from the record's "
                     "after the archive decoded the lossy original")
        else:
            self.add(Status.HEADER_ALTERED, "an icon's (pixel data inside an item) decoded "
                     "pixels differ from the record")

    def codec_attributes(self) -> None:
        """Lossy Image Compression (0028,2110) may be added, as "00", or as "01" when the
        record's transfer syntax was lossy (a decompressor writing down the history);
        never changed or dropped (PS3.3 C.7.6.1.1.5)."""
        rec, cur = self.recorded, self.current
        was, now = rec.lossy_image_compression, cur.lossy_image_compression
        if was == now or (was == "" and now == "00") or (
                was == "" and now == "01" and rec.transfer_syntax in LOSSY_SYNTAXES):
            return
        self.add(Status.HEADER_ALTERED,
                 f"Lossy Image Compression (0028,2110) changed from {was or 'absent'} to "
                 f"{now or 'absent'}" + (": the record of lossy compression was removed"
                                         if was == "01" else ""))

    def value_representations(self) -> None:
        """A public element written with a VR that reads its value otherwise than the
        dictionary does, where the record did not (docs/fingerprint.md)."""
        new = [d for d in self.current.vr_deviations if d not in set(self.recorded.vr_deviations)]
        if not new:
            return
        shown = []
        for d in new[:3]:
            where, _, vr = d.rpartition(":")
            tag = int(where.rpartition("/")[2], 16)
            wanted = DICTIONARY_VR.get(tag) or DICTIONARY_VR.get(tag & 0xFF00FFFF, ())
            name = _keyword(tag)
            place = f" in {where.rpartition('/')[0]}" if "/" in where else ""
            shown.append(f"({tag >> 16:04X},{tag & 0xFFFF:04X}){' ' + name if name else ''}"
                         f"{place} written as {vr}, where the dictionary says "
                         f"{' or '.join(wanted) or '?'}")
        more = f" and {len(new) - 3} more" if len(new) > 3 else ""
        self.add(Status.HEADER_ALTERED, "value representation changed so the value reads "
                 "differently: " + "; ".join(shown) + more)

    def header(self) -> None:
        rec, cur = self.recorded, self.current
        if cur.header_sha256 == rec.header_sha256:
            return
        if rec.version == 1 and legacy_header_digest(self.source,
                                                     self.profile) == rec.header_sha256:
            return
        self.add(Status.HEADER_ALTERED, "header attributes differ from the record")


def changed_attributes(recorded: dict[int, bytes], current: Fingerprint) -> list[str]:
    """Keywords of clinical attributes whose keyed digests differ (added/removed count too)."""
    now = dict(current.clinical_attrs)
    tags = sorted(set(recorded) | set(now))
    return [CLINICAL_TAGS.get(t, f"{t:08X}") for t in tags if recorded.get(t) != now.get(t)]


def compare(recorded: Fingerprint, recorded_attrs: dict[int, bytes], current: Fingerprint,
            source: Path | bytes, profile: HeaderProfile | None = None) -> tuple[Status, str]:
    """The status of ``current`` (read from ``source``, a file or the received bytes) against
    the recorded fingerprint. ``profile`` is the ledger's header profile."""
    if current.file_sha256 == recorded.file_sha256:
        return Status.INTACT, ""
    c = _Comparison(recorded, current, source, profile or DEFAULT_PROFILE, [], [])
    c.pixels()
    if recorded.version >= 2 and current.version >= 2:
        c.icons()
        c.codec_attributes()
        c.value_representations()
    if current.clinical_sha256 != recorded.clinical_sha256:
        # attribute digests on both sides, or none can be named (no attr.key here)
        names = (changed_attributes(recorded_attrs, current)
                 if recorded_attrs and current.clinical_attrs else [])
        what = ", ".join(names) if names else "patient/examination attributes"
        c.add(Status.IDENTITY_ALTERED, f"clinical attributes changed: {what}")
    c.header()
    if not c.problems:
        if recorded.transfer_syntax != current.transfer_syntax:
            c.notes.insert(0, f"losslessly transcoded from {ts_name(recorded.transfer_syntax)} "
                              f"to {ts_name(current.transfer_syntax)}")
        if c.notes:
            return Status.INTACT, "; ".join(dict.fromkeys(c.notes)) + "; header matches the record"
        return Status.INTACT, "file bytes differ only in parts archives may rewrite"
    c.problems.sort(key=lambda p: SEVERITY[p[0]])
    return c.problems[0][0], "; ".join(d for _, d in c.problems)
