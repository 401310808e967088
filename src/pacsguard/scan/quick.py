"""The quick walk: clean files without the machinery of the full walk (:mod:`.full`).

Nearly every file of an archive has nothing to report. :func:`quick_walk` walks such a file as
:class:`~pacsguard.scan.full.FullScan` does, in plain functions over the one buffer that holds
the whole file (no Source, no method calls, no findings list), and gives up (raises
``_Unusual``) at anything the full walk might report: a non-zero preamble, a signature at the
start of a value, a length that does not fit, an illegal group, a ZIP end-record signature in
the tail, any structure it does not know. The file is then scanned by the full walk from the
start, so giving up costs time, never a finding, and the full walk stays the one definition
of what is reported: what the quick walk accepts, the full walk finds nothing in (not even
``info``); keep the two in step (tests/scan/test_quick_path.py holds them to it). Files over
256 KiB (read in windows) and Deflated or Big Endian files always take the full walk.

Measured (time.perf_counter, 1,000 generated 9.5 kB CT files in memory, benchmarks/
scan_bench.py's, median of 11 runs): 18 µs a file instead of the full walk's 35 (preamble and
File Meta 3.7, element walk 13.7 for about 45 elements, ZIP signature search 0.8).
Hand-optimised: VRs are compared as little-endian integers (``<HHHH``), not 2-byte strings
(an int needs no hashing: 6 % of the walk); ``not (g + 2) & 0x10001`` is "an even group
below FFFE" in one test; constants are default arguments (local variables). An element
costs about 0.3 µs; a bare loop that only unpacks each header and adds its length costs
0.19 in CPython 3.11, the floor of a walk in Python.
"""

from __future__ import annotations

import struct

from pacsguard.dicom._dictionary import SQ_TAGS, STRING_TAGS
from pacsguard.dicom.tags import (
    ENCAPSULATED_DOCUMENT,
    ITEM,
    ITEM_DELIM,
    PIXEL_TAGS,
    SEQ_DELIM,
    UNDEFINED_LENGTH,
)
from pacsguard.dicom.uids import DEFLATED_LE, EXPLICIT_BE, IMPLICIT_LE
from pacsguard.dicom.vr import LONG_VRS, SHORT_VRS
from pacsguard.scan.layout import (
    HEAD,
    INSPECT_VRS,
    ITEM_START,
    MAX_META_VALUE,
    PREAMBLE,
    TS_ELEMENT,
    ZERO_PREAMBLE,
    ZIP_TAIL,
    Unpack,
    impl_le,
    u32_le,
)
from pacsguard.scan.model import Limits
from pacsguard.scan.signatures import LEADS, PREFIXES, STRONG4, sniff


class _Unusual(Exception):
    """The quick walk leaves this file to :class:`~pacsguard.scan.full.FullScan`. Private
    control flow: raised and caught inside this module only (:func:`quick_walk`)."""


def _vr(vr: bytes) -> int:
    return int.from_bytes(vr, "little")


_SHORT = frozenset(map(_vr, SHORT_VRS))
_LONG = frozenset(map(_vr, LONG_VRS))
_INSPECT = frozenset(map(_vr, INSPECT_VRS))
_SQ = _vr(b"SQ")
_UN = _vr(b"UN")
_expl_le_code = struct.Struct("<HHHH").unpack_from  # group, element, VR as int, length


def _quiet(buf: bytes, vpos: int, vend: int) -> None:
    """Give up unless :meth:`.PayloadScan.inspect` of ``buf[vpos:vend]`` would report nothing
    (the preamble is zero, so no PE header is pointed at): no confirmed signature."""
    head = buf[vpos : min(vend, vpos + HEAD)]
    if head[:2] == b"MZ":
        raise _Unusual  # value_head reads on to e_lfanew: left to the full walk
    sig = sniff(head, 0, vend - vpos)
    if sig is not None and sig.confirmed:
        raise _Unusual


def _q_items(buf: bytes, pos: int, length: int, limit: int, explicit: bool, depth: int,
             limits: Limits) -> int:
    """:meth:`.FullScan.sequence`, little endian: items up to ``length`` or the delimiter."""
    if depth >= limits.max_depth:
        raise _Unusual
    undefined = length == UNDEFINED_LENGTH
    end = limit if undefined else pos + length
    if end > limit:
        raise _Unusual
    walk = _q_explicit if explicit else _q_implicit
    while True:
        if pos >= end and not undefined:
            return end
        if pos + 8 > end:
            raise _Unusual
        g, e, item_len = impl_le(buf, pos)
        tag = g << 16 | e
        if tag == ITEM:
            if item_len == UNDEFINED_LENGTH:
                pos = walk(buf, pos + 8, end, depth + 1, False, True, limits)
            else:
                item_end = pos + 8 + item_len
                if item_end > end:
                    raise _Unusual
                walk(buf, pos + 8, item_end, depth + 1, False, False, limits)
                pos = item_end
        elif tag == SEQ_DELIM:
            if undefined:
                return pos + 8
            pos += 8
        else:
            raise _Unusual


def _q_fragments(buf: bytes, pos: int, limit: int, limits: Limits,
                 strong4: frozenset[bytes] = STRONG4) -> int:
    """:meth:`.FullScan.fragments`, little endian, up to the floor of fragments."""
    count = 0
    floor = limits.fragments_floor
    while True:
        if pos + 8 > limit:
            raise _Unusual
        g, e, length = impl_le(buf, pos)
        tag = g << 16 | e
        if tag == SEQ_DELIM:
            return pos + 8
        if tag != ITEM or length == UNDEFINED_LENGTH:
            raise _Unusual
        vend = pos + 8 + length
        if vend > limit:
            raise _Unusual
        if length >= 8:
            four = buf[pos + 8 : pos + 12]
            if four in strong4 or four[:2] == b"MZ":
                raise _Unusual
        count += 1
        if count > floor:
            raise _Unusual
        pos = vend


def _q_explicit(buf: bytes, p: int, limit: int, depth: int, top: bool, undefined: bool,
                limits: Limits, short_vrs: frozenset[int] = _SHORT,
                long_vrs: frozenset[int] = _LONG, inspect_vrs: frozenset[int] = _INSPECT,
                prefixes: frozenset[bytes] = PREFIXES, leads: frozenset[int] = LEADS,
                pixel_tags: frozenset[int] = PIXEL_TAGS, hdr: Unpack = _expl_le_code,
                u32: Unpack = u32_le) -> int:
    """:meth:`.FullScan.explicit`, little endian; returns where the data set ends. (``top``
    is there for :func:`_q_items`: an illegal group is given up at any depth.)"""
    end8 = limit - 8  # a header starts at or before this
    while p <= end8:
        g, e, vr, length = hdr(buf, p)
        if vr in short_vrs:
            if not (g + 2) & 0x10001:  # an even group below FFFE: a public element
                p += 8 + length
                continue
            if g < 0xFFFE:  # private
                if g < 8:
                    raise _Unusual  # STRUCT-ILLEGAL-GROUP
                if length >= 4 and (buf[p + 8 : p + 10] in prefixes or buf[p + 8] in leads):
                    _quiet(buf, p + 8, p + 8 + length)
                p += 8 + length
                continue
        if g >= 0xFFFE:
            if g == 0xFFFE and e == 0xE00D and undefined:
                return p + 8
            raise _Unusual
        if (g < 8 and g & 1) or vr not in long_vrs or p + 12 > limit:
            raise _Unusual
        tag = g << 16 | e
        length = u32(buf, p + 8)[0]
        if length < UNDEFINED_LENGTH and vr != _SQ:
            q = p + 12 + length
            if q > limit or tag == ENCAPSULATED_DOCUMENT:
                raise _Unusual
            if length >= 4 and (g & 1 or vr in inspect_vrs) and tag not in pixel_tags:
                if length >= 8 and vr == _UN and buf[p + 12 : p + 16] == ITEM_START:
                    # a sequence in disguise (FullScan.items_inside): items, or give up
                    _q_items(buf, p + 12, length, q, False, depth, limits)
                elif buf[p + 12 : p + 14] in prefixes or buf[p + 12] in leads:
                    _quiet(buf, p + 12, q)
            p = q
        elif vr == _SQ or (vr == _UN and tag not in pixel_tags):
            p = _q_items(buf, p + 12, length, limit, vr == _SQ, depth, limits)
        else:
            p = _q_fragments(buf, p + 12, limit, limits)
    if p != limit or undefined:
        raise _Unusual
    return p


def _q_implicit(buf: bytes, p: int, limit: int, depth: int, top: bool, undefined: bool,
                limits: Limits, string_tags: frozenset[int] = STRING_TAGS,
                sq_tags: frozenset[int] = SQ_TAGS, prefixes: frozenset[bytes] = PREFIXES,
                leads: frozenset[int] = LEADS, pixel_tags: frozenset[int] = PIXEL_TAGS,
                hdr: Unpack = impl_le) -> int:
    """:meth:`.FullScan.implicit`; returns where the data set ends."""
    end8 = limit - 8
    prev = -1
    while p <= end8:
        g, e, length = hdr(buf, p)
        tag = g << 16 | e
        if top:
            if tag <= prev:
                raise _Unusual  # tags do not ascend: trailing bytes
            prev = tag
        # a public string or short value (an undefined length overshoots: given up below)
        if not (g + 2) & 0x10001 and (length < 8 or tag in string_tags):
            p += 8 + length
            continue
        if length < UNDEFINED_LENGTH and g < 0xFFFE:
            if g < 8 and g & 1:
                raise _Unusual  # STRUCT-ILLEGAL-GROUP
            if tag not in sq_tags and tag not in pixel_tags and tag != ENCAPSULATED_DOCUMENT:
                q = p + 8 + length
                if q > limit:
                    raise _Unusual
                if g & 1 or length >= 16:  # private, or a public binary value
                    if length >= 8 and buf[p + 8 : p + 12] == ITEM_START:
                        _q_items(buf, p + 8, length, q, False, depth, limits)
                    elif length >= 4 and (buf[p + 8 : p + 10] in prefixes
                                          or buf[p + 8] in leads):
                        _quiet(buf, p + 8, q)
                p = q
                continue
        elif g >= 0xFFFE:
            if tag == ITEM_DELIM and undefined:
                return p + 8
            raise _Unusual
        if g < 8 and g & 1:
            raise _Unusual
        if tag in sq_tags or (length == UNDEFINED_LENGTH and tag not in pixel_tags):
            p = _q_items(buf, p + 8, length, limit, False, depth, limits)
        elif length == UNDEFINED_LENGTH:
            p = _q_fragments(buf, p + 8, limit, limits)
        elif tag in pixel_tags:
            p += 8 + length
        else:
            raise _Unusual  # an encapsulated document: PayloadScan.document
    if p != limit or undefined:
        raise _Unusual
    return p


def _zip_signature(buf: bytes, start: int) -> bool:
    """Whether ``PK\\5\\6`` (a ZIP end record, :meth:`.PayloadScan.zip_tail`) is in
    ``buf[start:]``.

    Measured: ``rfind`` takes 3 to 5 µs over a 9.5 kB CT file (pixel bytes defeat its skip
    table). ``find`` of one byte is ``memchr``, and "K" is rare outside compressed pixel data
    (none in most of those CT files), so a few probes do in under 1 µs; after 8, the full
    search (compressed pixel data holds a "K" every 256 bytes or so).
    """
    i = buf.find(b"K", start + 1)
    n = 0
    while i >= 0:
        if buf.startswith(b"PK\x05\x06", i - 1):
            return True
        n += 1
        if n == 8:
            return buf.rfind(b"PK\x05\x06", i - 1) >= 0
        i = buf.find(b"K", i + 1)
    return False


def quick_walk(buf: bytes, limits: Limits, short_vrs: frozenset[int] = _SHORT,
           long_vrs: frozenset[int] = _LONG, inspect_vrs: frozenset[int] = _INSPECT,
           hdr: Unpack = _expl_le_code, u32: Unpack = u32_le) -> tuple[str, int] | None:
    """``(transfer syntax, data set offset)`` when ``buf``, a whole file, is clean: a scan by
    :class:`~pacsguard.scan.full.FullScan` would find nothing in it, not even ``info``. None
    when unsure."""
    size = len(buf)
    if not (buf.startswith(ZERO_PREAMBLE) and buf.startswith(b"DICM", PREAMBLE)):
        return None
    try:
        pos = PREAMBLE + 4
        ts = ""
        while pos + 8 <= size:  # File Meta Information, as FullScan.walk
            g, e, vr, length = hdr(buf, pos)
            if g != 2:
                break
            if vr in short_vrs:
                vpos = pos + 8
            elif vr in long_vrs:
                if pos + 12 > size:
                    return None
                length = u32(buf, pos + 8)[0]
                vpos = pos + 12
            elif buf[pos + 4 : pos + 6].isalpha() and buf[pos + 4 : pos + 6].isupper():
                vpos = pos + 8
            else:
                return None
            if length > MAX_META_VALUE or vpos + length > size:
                return None
            if e == TS_ELEMENT:
                ts = buf[vpos : vpos + length].rstrip(b" \0").decode("ascii", "replace")
            elif length >= 4 and vr in inspect_vrs:
                return None
            pos = vpos + length
        if not ts or ts in (DEFLATED_LE, EXPLICIT_BE):
            return None
        if pos < size:
            walk = _q_implicit if ts == IMPLICIT_LE else _q_explicit
            walk(buf, pos, size, 0, True, False, limits)
        if size >= 22 and _zip_signature(buf, max(0, size - ZIP_TAIL)):
            return None
    except Exception:  # _Unusual, or bytes the quick walk did not expect: ask the full walk
        return None
    return ts, pos
