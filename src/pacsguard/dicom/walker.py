"""A streaming DICOM element walker that computes every fingerprint digest in one pass.

Hand-written rather than built on ``pydicom.dcmread`` because measured speed demands it: the
record target (issue #2 §6) is three times a plain ``dcmread`` loop in files/s, which a parser
that builds a full ``Dataset`` cannot reach. The data-dictionary facts it needs are a frozen
snapshot of pydicom's (:mod:`pacsguard.dicom._dictionary`).

What it implements:
- PS3.10 §7.1 file format: 128-byte preamble, ``DICM``, File Meta Information (group 0002,
  always Explicit VR Little Endian), then the data set in the transfer syntax named by
  (0002,0010).
- PS3.5 §7.1 data element encodings (explicit and implicit VR, little and big endian), §7.5
  nesting of sequences and items with defined or undefined lengths, §A.4 encapsulated pixel
  data (basic offset table, then fragments), §A.5 deflated data sets, §6.2.2 UN with undefined
  length (contents are Implicit VR Little Endian).

The canonical encodings fed to the digests are documented in docs/fingerprint.md. In short,
every element contributes ``b"E" + tag(4, big endian) + len(8, big endian) + value`` with the
value in little-endian byte order; a sequence contributes ``b"S" + tag``, then per item
``b"I"`` ... ``b"J"``, then ``b"Q"``. Lengths and the VR do not enter, so a change of transfer
syntax (implicit/explicit, defined/undefined lengths, byte order) does not change the digest.

Why one module of about 750 lines (issue #11 asks for a reason past ~600): it is one state
machine, :class:`_Walker`, whose methods share one stream and one set of running digests, and
its two fast paths (``top_explicit_le``, ``top_implicit_le``) must stay beside the general walk
they reproduce byte for byte (tests/dicom/test_fast_path.py proves them equal); split apart,
the three would drift. The dictionary facts are already apart (:mod:`._dictionary`).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from pacsguard.dicom._dictionary import DICTIONARY_VR, SQ_TAGS, STRING_TAGS
from pacsguard.dicom.pixels import Canonicalizer, native_layout
from pacsguard.dicom.stream import CHUNK, HashingStream
from pacsguard.dicom.tags import (
    DEVICE_SERIAL_NUMBER,
    INSTITUTION_NAME,
    ITEM,
    ITEM_DELIM,
    LAYOUT_TAGS,
    LOSSY_IMAGE_COMPRESSION,
    MANUFACTURER,
    MODALITY,
    MODEL_NAME,
    PHOTOMETRIC_INTERPRETATION,
    PIXEL_DATA,
    PIXEL_TAGS,
    PLANAR_CONFIGURATION,
    SEQ_DELIM,
    SERIES_INSTANCE_UID,
    SOFTWARE_VERSIONS,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    STATION_NAME,
    STUDY_INSTANCE_UID,
    TRANSFER_SYNTAX_UID,
    UNDEFINED_LENGTH,
)
from pacsguard.dicom.uids import (
    DEFLATED_LE,
    EXPLICIT_BE,
    EXPLICIT_LE,
    IMPLICIT_LE,
)
from pacsguard.dicom.vr import LONG_VRS, SHORT_VRS
from pacsguard.errors import DicomReadError, TruncatedError

# PS3.5 §6.2 Table 6.2-1: every value representation. An explicit VR outside this set is not
# DICOM: the file is reported corrupted (fingerprint version 2, docs/fingerprint.md).
VALID_VRS = LONG_VRS | SHORT_VRS
_STRING_VRS = frozenset({b"AE", b"AS", b"CS", b"DA", b"DS", b"DT", b"IS", b"LO", b"LT", b"PN",
                         b"SH", b"ST", b"TM", b"UC", b"UI", b"UR", b"UT"})


def _readable_as(dictionary_vrs: tuple[str, ...]) -> frozenset[bytes]:
    """The explicit VRs that read a public element's value as its dictionary VR does.

    UN (PS3.5 §6.2.2: the reader falls back to the dictionary), any of the dictionary's
    alternatives ("US or SS", "OB or OW"), any string VR for a string element (the value is
    read as the same characters), and OB for OW or OW for OB (the same bytes in little endian).
    """
    ok = {b"UN"} | {vr.encode() for vr in dictionary_vrs}
    if ok & _STRING_VRS:
        ok |= _STRING_VRS
    if ok & {b"OB", b"OW"}:
        ok |= {b"OB", b"OW"}
    return frozenset(ok)


def _vr_table() -> dict[int, frozenset[bytes]]:
    shared: dict[tuple[str, ...], frozenset[bytes]] = {}
    return {tag: shared.setdefault(vrs, _readable_as(vrs)) for tag, vrs in DICTIONARY_VR.items()}


#: public tag -> the explicit VRs that read its value as the dictionary says (version 2)
READABLE_VRS = _vr_table()
_REPEATING = frozenset({0x50, 0x60, 0x7F})  # groups 50xx, 60xx, 7Fxx (PS3.5 §7.6)
# Byte width of each value for VRs that a big-endian encoding swaps (PS3.5 §7.3).
SWAP_WIDTH = {b"US": 2, b"SS": 2, b"OW": 2, b"AT": 2, b"UL": 4, b"SL": 4, b"FL": 4, b"OL": 4,
              b"OF": 4, b"FD": 8, b"OD": 8, b"SV": 8, b"UV": 8, b"OV": 8}
# SQ_TAGS and STRING_TAGS (PS3.5 §6.2: trailing spaces, and NUL for UI, are padding in string
# VRs; public tags only, so explicit and implicit encodings strip alike) come from a frozen
# dictionary snapshot: see scripts/gen_dictionary.py.

MAX_DEPTH = 32  # deeper nesting than any real IOD needs; deeper is treated as hostile


# Values kept for later use (identity, equipment, pixel geometry); all top level.
KEEP_TAGS = frozenset({
    SOP_CLASS_UID, SOP_INSTANCE_UID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID, MODALITY,
    MANUFACTURER, MODEL_NAME, SOFTWARE_VERSIONS, DEVICE_SERIAL_NUMBER, STATION_NAME,
    INSTITUTION_NAME, *LAYOUT_TAGS, LOSSY_IMAGE_COMPRESSION,
})
# Top-level attributes that version 2 leaves out of the header digest because a lossless codec
# may rewrite them; integrity.status compares them by rule instead (docs/fingerprint.md).
CODEC_TAGS = frozenset({PHOTOMETRIC_INTERPRETATION, PLANAR_CONFIGURATION,
                        LOSSY_IMAGE_COMPRESSION})
NESTED_CAP = 16 << 20  # nested pixel values larger than this get no decoded digest at walk time
FINGERPRINT_VERSION = 2

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_tag_le = struct.Struct("<HH").unpack_from
_head_le = struct.Struct("<HH2sH").unpack_from  # Explicit VR LE: group, element, VR, short length
_head_implicit = struct.Struct("<HHI").unpack_from  # Implicit VR LE: group, element, length
_ITEM_LE = b"\xfe\xff\x00\xe0"  # (FFFE,E000) Item, little endian
_tag_be = struct.Struct(">HH").unpack_from
_u16_be = struct.Struct(">H").unpack_from
_u32_be = struct.Struct(">I").unpack_from
WHOLE_FILE = 16 << 20  # files up to this size are read in one call
_pack_el = struct.Struct(">cIQ").pack
_pack_tag = struct.Struct(">cI").pack


def _swap(value: bytes, width: int) -> bytes:
    """Big-endian to little-endian for values of ``width`` bytes each (PS3.5 §7.3)."""
    if width <= 1 or len(value) % width:
        return value
    import numpy as np

    return np.frombuffer(value, dtype=f">u{width}").astype(f"<u{width}").tobytes()


@dataclass
class WalkResult:
    """Everything one pass over a file produced (internal; see ``Fingerprint``)."""

    file_sha256: bytes = b""
    file_size: int = 0
    transfer_syntax: str = ""
    header_sha256: bytes = b""
    pixel_sha256: bytes | None = None
    decoded_pixel_sha256: bytes | None = None
    encapsulated: bool = False
    fragments: int = 0
    clinical: dict[int, bytes] = field(default_factory=dict)
    kept: dict[int, bytes] = field(default_factory=dict)
    meta_sop_instance_uid: str = ""
    meta_sop_class_uid: str = ""
    #: version 2: nested pixel data (icons): stored digest, and canonical decoded digest, or
    #: None when some nested value could not be canonicalised while walking (encapsulated)
    nested_sha256: bytes | None = None
    nested_decoded_sha256: bytes | None = None
    #: version 2: public elements whose explicit VR reads their value otherwise than the
    #: dictionary does, as "path:VR" (path = tags and item numbers, e.g. "00081115[0]/00081150")
    vr_deviations: list[str] = field(default_factory=list)


class _Walker:
    """One file's walk; the mutable state lives here so the hot loop uses attributes."""

    def __init__(self, stream: HashingStream, rewritable: frozenset[int],
                 clinical_tags: frozenset[int], name: str, version: int) -> None:
        self.s = stream
        self.version = version
        self.rewritable = rewritable | CODEC_TAGS if version >= 2 else rewritable
        self.clinical_tags = clinical_tags
        self.name = name
        self.path: list[str] = []  # where the walk is, for naming an element in a sequence
        self.nested: hashlib._Hash | None = None
        self.nested_decoded: hashlib._Hash | None = None
        self.nested_complete = True
        self.hidden = 0  # > 0 inside a sequence the header digest leaves out
        self.readable: dict[int, frozenset[bytes]] | None = None
        self.header = hashlib.sha256()
        # canonical header pieces not yet hashed: hashing once per file is cheaper than once
        # per element (measured: about a third of the walk for typical headers)
        self.parts: list[bytes] = []
        self.pixel: hashlib._Hash | None = None
        self.result = WalkResult()
        self.pixel_tag = PIXEL_DATA

    def fail(self, what: str) -> DicomReadError:
        return DicomReadError(f"{self.name}: {what} (at byte {self.s.offset})")

    def flush(self) -> None:
        if self.parts:
            self.header.update(b"".join(self.parts))
            self.parts.clear()

    # -- element headers ---------------------------------------------------------------------
    def element_header(self, explicit: bool, little: bool) -> tuple[int, bytes, int]:
        """Read one element header: (tag, vr or b'', length) per PS3.5 §7.1."""
        s = self.s
        if s.pos + 12 > len(s.buf):
            s.fill(12)
            if s.pos + 8 > len(s.buf):
                raise TruncatedError(s.offset, 8 - (len(s.buf) - s.pos))
        buf, pos = s.buf, s.pos
        if little:
            g, e = _tag_le(buf, pos)
        else:
            g, e = _tag_be(buf, pos)
        if g == 0xFFFE or not explicit:  # items and delimiters never have a VR (PS3.5 §7.5)
            s.pos = pos + 8
            return (g << 16) | e, b"", (_u32(buf, pos + 4)[0] if little
                                         else _u32_be(buf, pos + 4)[0])
        vr = buf[pos + 4 : pos + 6]
        if vr in LONG_VRS:
            if pos + 12 > len(buf):
                raise TruncatedError(s.offset, 12 - (len(buf) - pos))
            s.pos = pos + 12
            return (g << 16) | e, vr, (_u32(buf, pos + 8)[0] if little
                                        else _u32_be(buf, pos + 8)[0])
        if vr not in VALID_VRS:
            raise self.fail(f"element ({g:04X},{e:04X}) has {vr!r} where its value "
                            "representation should be: not a DICOM VR (PS3.5 §6.2)")
        s.pos = pos + 8
        return (g << 16) | e, vr, (_u16(buf, pos + 6)[0] if little else _u16_be(buf, pos + 6)[0])

    # -- data sets ---------------------------------------------------------------------------
    def top_explicit_le(self) -> None:
        """The top level of an Explicit VR Little Endian file held whole in memory: the common
        case, parsed straight out of the buffer (issue #10 §9, written by hand because the walk
        is most of ``record``'s CPU per small file: this loop takes about half the time of
        :meth:`dataset` per element, measured).

        Only plain elements are handled here; anything else (pixel data, sequences, UN, a VR
        that is not one, undefined or large lengths, the end of the data) goes to
        :meth:`dataset` for one element, so both produce the same digests (a property test
        holds them to it).
        """
        s = self.s
        buf = s.buf
        n = len(buf)
        append = self.parts.append
        clinical_tags = self.clinical_tags
        rewritable = self.rewritable
        readable = self.readable
        clinical = self.result.clinical
        kept = self.result.kept
        head = _head_le
        u32 = _u32
        pack_el = _pack_el
        pos = s.pos
        while True:
            if pos + 12 > n:
                if pos >= n:
                    s.pos = pos
                    return
                s.pos = pos
                self.dataset(True, True, None, 0, top=True, one=True)
                pos = s.pos
                continue
            g, e, vr, length = head(buf, pos)
            if vr in LONG_VRS:
                length = u32(buf, pos + 8)[0]
                start = pos + 12
            else:
                start = pos + 8
            tag = (g << 16) | e
            if (vr == b"SQ" or vr == b"UN" or g == 0xFFFE or tag in PIXEL_TAGS
                    or vr not in VALID_VRS or length > BIG_VALUE or start + length > n):
                s.pos = pos
                self.dataset(True, True, None, 0, top=True, one=True)
                pos = s.pos
                continue
            if readable is not None:
                ok = readable.get(tag)
                if ok is None and g >> 8 in _REPEATING and not g & 1:
                    ok = readable.get(tag & 0xFF00FFFF)
                if ok is not None and vr not in ok:
                    self.deviation(tag, vr)
            pos = start + length
            value = buf[start:pos]
            if tag in clinical_tags:
                clinical[tag] = value
            if tag in KEEP_TAGS:
                kept[tag] = value
            if e == 0 or g == 2 or tag in rewritable:
                continue
            if tag in STRING_TAGS:
                value = value.rstrip(b" \x00")
            elif length & 1:
                value += b"\x00"
            append(pack_el(b"E", tag, len(value)))
            append(value)

    def top_implicit_le(self) -> None:
        """:meth:`top_explicit_le` for Implicit VR Little Endian (no VR to check; a sequence is
        known from the dictionary or, for a private element, from an item header at the start
        of its value, as :meth:`dataset` decides). The value handling at the end of the loop
        is the same as there, written out in both because a call per element would cost what
        the fast path saves; tests/dicom/test_fast_path.py holds both to :meth:`dataset`."""
        s = self.s
        buf = s.buf
        n = len(buf)
        append = self.parts.append
        clinical_tags = self.clinical_tags
        rewritable = self.rewritable
        clinical = self.result.clinical
        kept = self.result.kept
        head = _head_implicit
        pack_el = _pack_el
        pos = s.pos
        while True:
            if pos + 8 > n:
                if pos >= n:
                    s.pos = pos
                    return
                s.pos = pos
                self.dataset(False, True, None, 0, top=True, one=True)
                pos = s.pos
                continue
            g, e, length = head(buf, pos)
            start = pos + 8
            tag = (g << 16) | e
            if (g == 0xFFFE or tag in PIXEL_TAGS or tag in SQ_TAGS or length > BIG_VALUE
                    or start + length > n
                    or (length >= 8 and buf[start : start + 4] == _ITEM_LE)):
                s.pos = pos
                self.dataset(False, True, None, 0, top=True, one=True)
                pos = s.pos
                continue
            pos = start + length
            value = buf[start:pos]
            if tag in clinical_tags:
                clinical[tag] = value
            if tag in KEEP_TAGS:
                kept[tag] = value
            if e == 0 or g == 2 or tag in rewritable:
                continue
            if tag in STRING_TAGS:
                value = value.rstrip(b" \x00")
            elif length & 1:
                value += b"\x00"
            append(pack_el(b"E", tag, len(value)))
            append(value)

    def dataset(self, explicit: bool, little: bool, end: int | None, depth: int,
                top: bool, one: bool = False) -> None:
        """Walk elements until ``end`` (logical offset), an item delimiter, or end of file
        (``one``: just the next element)."""
        if depth > MAX_DEPTH:
            raise self.fail(f"sequences nested deeper than {MAX_DEPTH} levels")
        s = self.s
        append = self.parts.append
        clinical_tags = self.clinical_tags
        rewritable = self.rewritable
        result = self.result
        element_header = self.element_header
        readable = self.readable if explicit else None  # UN contents are implicit
        layout: dict[int, bytes] | None = None if top else {}
        first = True
        while True:
            if one:
                if not first:
                    return
                first = False
            if end is not None:
                here = s.base + s.pos
                if here >= end:
                    if here > end:
                        raise self.fail("an element runs past the end of its item")
                    return
            elif top and s.pos >= len(s.buf) and not s.fill(1):
                return
            tag, vr, length = element_header(explicit, little)
            if tag >> 16 == 0xFFFE:
                if tag == ITEM_DELIM and end is None and not top:
                    return
                raise self.fail(f"unexpected item tag ({tag >> 16:04X},{tag & 0xFFFF:04X}) "
                                "outside a sequence")
            if tag in PIXEL_TAGS:
                if top:
                    self.pixel_data(tag, vr, length, little)
                    continue
                if layout is not None and self.version >= 2:
                    self.nested_pixel(tag, vr, length, little, layout)
                    continue
            if readable is not None:
                ok = readable.get(tag)
                if ok is None and tag >> 24 in _REPEATING and not tag & 0x10000:
                    ok = readable.get(tag & 0xFF00FFFF)
                if ok is not None and vr not in ok:
                    self.deviation(tag, vr)
            excluded = (tag & 0xFFFF) == 0 or (top and (tag >> 16 == 2 or tag in rewritable))
            if vr == b"SQ" or (length == UNDEFINED_LENGTH and vr in (b"", b"UN")
                               and tag not in PIXEL_TAGS) or (not explicit and tag in SQ_TAGS) or (
                vr in (b"", b"UN") and length >= 8 and tag not in SQ_TAGS
                and self.looks_like_items(length)
            ) or (vr == b"UN" and tag in SQ_TAGS and self.version >= 2):
                # (the last: a public sequence written as UN of defined length, PS3.5 §6.2.2)
                # PS3.5 §6.2.2: UN of undefined length holds Implicit VR Little Endian items.
                if vr == b"UN":
                    self.sequence(tag, length, False, True, depth, excluded)
                else:
                    self.sequence(tag, length, explicit, little, depth, excluded)
                continue
            if length == UNDEFINED_LENGTH:
                if tag in PIXEL_TAGS:
                    # encapsulated pixel data below the top level, e.g. in an Icon Image
                    # Sequence (PS3.3 C.7.6.1.1.6): header content, fragments in order
                    if excluded:
                        self.fragments(None, skip_first=False)
                    else:
                        append(_pack_tag(b"F", tag))
                        self.flush()
                        self.fragments(self.header, skip_first=False)
                    continue
                raise self.fail(
                    f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) has undefined length "
                    "but is not a sequence"
                )
            if end is not None and s.base + s.pos + length > end:
                raise self.fail(
                    f"element ({tag >> 16:04X},{tag & 0xFFFF:04X}) claims {length} bytes, "
                    "more than its item holds"
                )
            if length > BIG_VALUE:
                # Large non-pixel value: stream it so memory stays bounded.
                if excluded:
                    s.stream(length)
                elif little or vr not in SWAP_WIDTH:
                    append(_pack_el(b"E", tag, length))
                    self.flush()
                    s.stream(length, self.header)
                else:
                    append(_pack_el(b"E", tag, length))
                    append(_swap(s.read(length), SWAP_WIDTH[vr]))
                continue
            pos = s.pos
            if pos + length <= len(s.buf):
                value = s.buf[pos : pos + length]
                s.pos = pos + length
            else:
                value = s.read(length)
            if not little and vr in SWAP_WIDTH:
                value = _swap(value, SWAP_WIDTH[vr])
            if top:
                if tag in clinical_tags:
                    result.clinical[tag] = value
                if tag in KEEP_TAGS:
                    result.kept[tag] = value
            elif layout is not None and tag >> 16 == 0x0028 and tag in LAYOUT_TAGS:
                layout[tag] = value
            if not excluded:
                if tag in STRING_TAGS:
                    value = value.rstrip(b" \x00")
                elif length & 1 and self.version >= 2:
                    # PS3.5 §7.1.1: values have even length; a writer that repairs an odd one
                    # pads it with 00H, which adds nothing (version 2 hashes it padded)
                    value += b"\x00"
                append(_pack_el(b"E", tag, len(value)))
                append(value)

    def deviation(self, tag: int, vr: bytes) -> None:
        """A public element whose explicit VR reads its value otherwise than the dictionary."""
        where = "/".join([*self.path, f"{tag:08X}"])
        self.result.vr_deviations.append(f"{where}:{vr.decode('ascii')}")

    def nested_pixel(self, tag: int, vr: bytes, length: int, little: bool,
                     layout: dict[int, bytes]) -> None:
        """Pixel data inside an item (an icon, PS3.3 C.7.6.1.1.6), compared like the image's.

        The header digest gets only a marker; the stored bytes feed the nested stored digest,
        and the samples, in the canonical decoded form of :mod:`pacsguard.dicom.pixels`, the
        nested decoded digest. A compressor that re-encodes an icon changes the first and not
        the second. Encapsulated nested values are decoded later (``decoded_nested_digest``).
        """
        marker = _pack_tag(b"P", tag)
        self.parts.append(marker)
        if self.hidden:  # inside a left-out sequence (e.g. Original Attributes): not compared
            if length == UNDEFINED_LENGTH:
                self.fragments(None, skip_first=False)
            else:
                self.s.stream(length)
            return
        if self.nested is None:
            self.nested, self.nested_decoded = hashlib.sha256(), hashlib.sha256()
        stored = hashlib.sha256()
        if not little:
            stored.update(b"BE:" + vr)  # the VR decides how the bytes read, as at the top
        decoded: bytes | None = None
        s = self.s
        if length == UNDEFINED_LENGTH:
            self.fragments(stored, skip_first=True)
        else:
            lay = native_layout(layout, tag)
            swap = 0 if little or vr not in SWAP_WIDTH else SWAP_WIDTH[vr]
            if lay is None or length > NESTED_CAP:
                s.stream(length, stored)
            else:
                canon = Canonicalizer(lay, length, swap, fresh=not little)
                value = s.read(length)
                if canon.whole_value:
                    stored.update(value)
                    canon.whole(value)
                else:
                    canon.piece(value, stored)
                decoded = canon.digest(stored)
        self.nested.update(marker + stored.digest())
        if decoded is None:
            self.nested_complete = False
        else:
            assert self.nested_decoded is not None
            self.nested_decoded.update(marker + decoded)

    def looks_like_items(self, length: int) -> bool:
        """A value of unknown VR (private, or UN) that is a sequence in disguise.

        Implicit VR files and UN elements do not say that a private element is a sequence;
        its Explicit VR original does. So that both hash alike, a defined-length value whose
        first item header is a well-formed item (PS3.5 §7.5) fitting inside it is walked as a
        sequence (as dcmtk and pydicom also guess).
        """
        s = self.s
        if s.pos + 8 > len(s.buf) and not s.fill(8):
            return False
        g, e = _tag_le(s.buf, s.pos)
        if (g, e) != (0xFFFE, 0xE000):
            return False
        item_len = _u32(s.buf, s.pos + 4)[0]
        if not (item_len == UNDEFINED_LENGTH or item_len + 8 <= length):
            return False
        return self.version < 2 or self._items_hold_data_sets(length)

    def _items_hold_data_sets(self, length: int) -> bool:
        """Version 2: the first item with content must start like a data set: an element of a
        group from 0008 on (not an item tag) whose length fits the item. Encapsulated pixel
        data kept in a private OB also starts with item headers, but its fragments start with
        a codestream (JPEG FFD8, JPEG 2000 FF4F, an RLE header's small segment count), and
        walking them as a data set reported the file corrupted after an implicit transcode."""
        s = self.s
        if len(s.buf) - s.pos < min(length, 1 << 16):
            s.fill(min(length, 1 << 16))
        buf, at, end = s.buf, s.pos, s.pos + min(length, len(s.buf) - s.pos)
        while at + 8 <= end:
            g, e = _tag_le(buf, at)
            size = _u32(buf, at + 4)[0]
            if (g, e) != (0xFFFE, 0xE000) or size == UNDEFINED_LENGTH:
                return (g, e) == (0xFFFE, 0xE000)  # an undefined-length item: a data set
            if size == 0:
                at += 8
                continue
            if size < 8 or at + 16 > end:
                return False
            first_group = _u16(buf, at + 8)[0]
            first_len = _u32(buf, at + 12)[0]
            return bool(0x0008 <= first_group < 0xFFFE
                        and (first_len == UNDEFINED_LENGTH or first_len + 8 <= size))
        return True  # only empty items: an empty sequence

    def sequence(self, tag: int, length: int, explicit: bool, little: bool, depth: int,
                 excluded: bool) -> None:
        """PS3.5 §7.5: items of defined or undefined length, until the length or delimiter."""
        s = self.s
        saved = self.header, self.parts
        if excluded:  # walk it (to stay in step) into a throw-away digest
            self.flush()
            self.header, self.parts = hashlib.sha256(), []
            self.hidden += 1
        append = self.parts.append
        append(_pack_tag(b"S", tag))
        end = None if length == UNDEFINED_LENGTH else s.offset + length
        path = self.path
        seq_name = f"{tag:08X}"
        items = 0
        while True:
            if end is not None and s.offset >= end:
                break
            item_tag, _, item_len = self.element_header(explicit, little)
            if item_tag == SEQ_DELIM:
                if end is not None:
                    raise self.fail("sequence delimiter inside a sequence of defined length")
                break
            if item_tag != ITEM:
                raise self.fail(
                    f"sequence ({tag >> 16:04X},{tag & 0xFFFF:04X}) holds "
                    f"({item_tag >> 16:04X},{item_tag & 0xFFFF:04X}) where an item was expected"
                )
            append(b"I")
            item_end = None if item_len == UNDEFINED_LENGTH else s.offset + item_len
            if item_end is not None and end is not None and item_end > end:
                raise self.fail("an item claims more bytes than its sequence holds")
            path.append(f"{seq_name}[{items}]")
            self.dataset(explicit, little, item_end, depth + 1, top=False)
            path.pop()
            items += 1
            append(b"J")
        append(b"Q")
        if items == 0 and tag >> 16 & 1 and self.version >= 2:
            # an empty private sequence: once written implicit it is an empty value of unknown
            # VR, which nothing can tell from an empty sequence; both hash as the empty value
            self.parts[-2:] = [_pack_el(b"E", tag, 0)]
        if excluded:
            self.header, self.parts = saved
            self.hidden -= 1

    def fragments(self, into: hashlib._Hash | None, skip_first: bool) -> int:
        """PS3.5 §A.4 items up to the sequence delimiter; the first (offset table) skipped."""
        s = self.s
        count = 0
        first = skip_first
        while True:
            item_tag, _, item_len = self.element_header(False, True)
            if item_tag == SEQ_DELIM:
                return count
            if item_tag != ITEM or item_len == UNDEFINED_LENGTH:
                raise self.fail("encapsulated pixel data holds something other than items")
            if first or into is None:
                s.stream(item_len)
                first = False
            else:
                s.stream(item_len, into)
                count += 1

    # -- pixel data --------------------------------------------------------------------------
    def pixel_data(self, tag: int, vr: bytes, length: int, little: bool) -> None:
        """Hash the stored pixel bytes: native value, or every fragment in order (PS3.5 §A.4).

        The basic offset table (first item) is not pixel data and is left out; fragments are
        hashed as one concatenated byte string, so re-fragmenting does not change the digest.
        Native values also yield the decoded-pixel digest (see :mod:`pacsguard.dicom.pixels`).
        """
        pixel = self.pixel if self.pixel is not None else hashlib.sha256()
        self.pixel = pixel
        self.pixel_tag = tag
        if length == UNDEFINED_LENGTH:
            self.result.encapsulated = True
            self.result.fragments += self.fragments(pixel, skip_first=True)
            return
        layout = native_layout(self.result.kept, tag)
        swap = 0 if little or vr not in SWAP_WIDTH else SWAP_WIDTH[vr]
        if not little and self.version >= 2:
            # in Explicit VR Big Endian the VR decides how the bytes read (OW swapped by
            # 16-bit words, OB not): it is part of what is stored (PS3.5 §7.3)
            pixel.update(b"BE:" + vr)
        canon = (Canonicalizer(layout, length, swap, fresh=not little)
                 if layout is not None else None)
        s = self.s
        if canon is None:
            s.stream(length, pixel)
        elif canon.whole_value:
            value = s.read(length)
            pixel.update(value)
            canon.whole(value)
        else:
            left = length
            while left > 0:
                # pieces start at sample boundaries: the value's start plus multiples of 4 MiB
                piece = s.read_view(min(left, PIECE))
                canon.piece(piece, pixel)
                left -= len(piece)
        if canon is not None:
            self.result.decoded_pixel_sha256 = canon.digest(pixel)


BIG_VALUE = 1 << 20
PIECE = 4 << 20


def _meta(w: _Walker) -> dict[int, bytes]:
    """PS3.10 §7.1: group 0002 elements, always Explicit VR Little Endian."""
    s = w.s
    values: dict[int, bytes] = {}
    while True:
        nxt = s.peek(2)
        if len(nxt) < 2 or nxt != b"\x02\x00":
            return values
        tag, _vr, length = w.element_header(True, True)
        if length == UNDEFINED_LENGTH or length > (1 << 16):
            raise w.fail(f"File Meta element ({tag >> 16:04X},{tag & 0xFFFF:04X}) has "
                         f"an absurd length {length}")
        values[tag] = s.read(length)


def _text(value: bytes) -> str:
    return value.rstrip(b" \x00").decode("ascii", "replace")


def walk(f: BinaryIO, name: str, rewritable: frozenset[int],
         clinical_tags: frozenset[int], version: int = FINGERPRINT_VERSION) -> WalkResult:
    """Walk one open file; raise ``DicomReadError`` naming the file and the problem.

    ``version`` 1 computes the header digest as fingerprint version 1 did (nested pixel data and
    the codec attributes inside it, no VR facts), for comparing with entries recorded then.
    """
    file_hash = hashlib.sha256()
    if isinstance(f, io.BytesIO):  # a received instance, already in memory
        size = f.getbuffer().nbytes
    else:
        try:
            size = os.fstat(f.fileno()).st_size
        except (OSError, AttributeError, ValueError):
            size = 0
    s = HashingStream(f, file_hash, size + 1 if 0 < size <= WHOLE_FILE else CHUNK)
    w = _Walker(s, rewritable, clinical_tags, name, version)
    r = w.result
    try:
        head = s.peek(132)
        if len(head) == 0:
            raise DicomReadError(f"{name}: empty file (0 bytes); it is not a DICOM instance")
        if len(head) == 132 and head[128:132] == b"DICM":
            s.read(132)
            meta = _meta(w)
            ts = meta.get(TRANSFER_SYNTAX_UID, b"").rstrip(b" \x00").decode("ascii", "replace")
            r.meta_sop_class_uid = _text(meta.get(0x00020002, b""))
            r.meta_sop_instance_uid = _text(meta.get(0x00020003, b""))
            if not ts:
                raise w.fail("File Meta Information has no Transfer Syntax UID (0002,0010)")
        elif len(head) >= 8 and head[0:2] == b"\x08\x00" and head[2:4] < b"\x20\x00":
            # PS3.10 §7.1 requires the preamble, but old systems wrote bare data sets.
            ts = EXPLICIT_LE if 65 <= head[4] <= 90 and 65 <= head[5] <= 90 else IMPLICIT_LE
        else:
            raise DicomReadError(
                f"{name}: not a DICOM file (no 'DICM' marker at byte 128 and no data set at "
                "byte 0)"
            )
        r.transfer_syntax = ts
        explicit = ts != IMPLICIT_LE
        little = ts != EXPLICIT_BE
        if explicit and version >= 2:
            w.readable = READABLE_VRS
        if ts == DEFLATED_LE:
            s.start_inflating()
        if s.complete and version >= 2 and ts in (EXPLICIT_LE, DEFLATED_LE):
            w.top_explicit_le()
        elif s.complete and version >= 2 and ts == IMPLICIT_LE:
            w.top_implicit_le()
        else:
            w.dataset(explicit, little, None, 0, top=True)
        s.drain()
    except TruncatedError as exc:
        raise DicomReadError(
            f"{name}: truncated: the file ends inside a data element ({exc}); "
            "restore it from a backup or the sending modality"
        ) from None
    except (struct.error, ValueError, OverflowError, MemoryError, zlib.error) as exc:
        raise w.fail(f"malformed data element ({exc.__class__.__name__}: {exc})") from None
    r.file_sha256 = file_hash.digest()
    r.file_size = f.tell()
    w.flush()
    r.header_sha256 = w.header.digest()
    if w.pixel is not None:
        r.pixel_sha256 = w.pixel.digest()
    if w.nested is not None and w.nested_decoded is not None:
        r.nested_sha256 = w.nested.digest()
        r.nested_decoded_sha256 = w.nested_decoded.digest() if w.nested_complete else None
    return r
