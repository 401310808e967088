"""The canonical decoded form of pixel data, used to recognise lossless transcoding.

Two encodings of the same image (say Explicit VR Little Endian and JPEG-LS lossless) store
different bytes but decode to the same samples. The *decoded pixel digest* is SHA-256 over the
samples in one canonical layout (docs/fingerprint.md §Transcoding):

- frames in order, rows top to bottom, columns left to right, samples interleaved
  (Planar Configuration 0), no colour-space conversion;
- each integer sample as a little-endian integer of Bits Allocated width, reduced to Bits Stored:
  masked when Pixel Representation is 0, sign-extended from Bits Stored when it is 1 (so bits
  above Bits Stored, such as old overlay bits, do not count);
- Float and Double Float Pixel Data as little-endian IEEE values;
- 1-bit data (Bits Allocated 1, e.g. segmentations) packed eight samples a byte, least
  significant bit first, as PS3.5 §8.1.1 stores it, with the bits after the last sample zero;
- Explicit VR Big Endian values first swapped by the width of their VR (PS3.5 §7.3: OW by
  16-bit words, OF/OL by 32, OD by 64), then read as little-endian samples: so 8-bit data in
  OW reads as dcmtk and pydicom read it, and 32-bit data in OW as dcmtk reads it.

For native (uncompressed) instances this is computed while walking, almost always for free: when
the stored samples already are canonical (the usual case) the decoded digest *is* the pixel
digest, and the check costs one vectorised comparison per 4 MiB piece. Only pieces that are not
canonical are transformed and hashed a second time. Decoding compressed pixel data (pydicom
with the pylibjpeg plugins) happens only in :func:`decoded_digest_of_file`, which the verifier
calls when an instance's transfer syntax differs from the recorded one, and which
``record --decode-compressed`` calls for compressed instances.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pacsguard.dicom.tags import DOUBLE_FLOAT_PIXEL_DATA, FLOAT_PIXEL_DATA, PIXEL_DATA
from pacsguard.dicom.uids import (
    DEFLATED_LE,
    EXPLICIT_BE,
    EXPLICIT_LE,
    JPEG_2000_LOSSLESS,
    JPEG_BASELINE,
    JPEG_EXTENDED,
    JPEG_LOSSLESS_SV1,
    JPEG_LS_LOSSLESS,
    RLE_LOSSLESS,
)
from pacsguard.errors import DicomReadError

_u16 = struct.Struct("<H").unpack_from
WHOLE_VALUE_CAP = 64 << 20  # planar-configuration-1 values are reordered in memory up to this


@dataclass(frozen=True)
class Layout:
    """What the decoded form of a native pixel value looks like."""

    rows: int
    cols: int
    spp: int
    frames: int
    width: int  # bytes per sample
    bits_stored: int
    signed: bool
    planar: int
    is_float: bool
    packed: bool = False  # Bits Allocated 1: eight samples a byte

    @property
    def samples(self) -> int:
        return self.frames * self.rows * self.cols * self.spp

    @property
    def expected(self) -> int:
        """Bytes of the canonical form (and the least a stored value must hold)."""
        if self.packed:
            return (self.samples + 7) // 8
        return self.samples * self.width


def _canonical(a: Any, bits_stored: int, signed: bool) -> Any:
    """Unsigned LE samples reduced to Bits Stored (masked, or sign-extended when signed)."""
    import numpy as np

    width = a.dtype.itemsize
    bits = width * 8
    if not 0 < bits_stored < bits:
        return a
    if signed:
        shift = np.array(bits - bits_stored, dtype=f"<u{width}")
        return ((a << shift).view(f"<i{width}") >> shift.astype(f"<i{width}")).view(f"<u{width}")
    return a & np.array((1 << bits_stored) - 1, dtype=f"<u{width}")


def canonical_digest(arr: Any, bits_stored: int | None, signed: bool | None = None,
                     packed: bool = False) -> bytes:
    """SHA-256 of an array of decoded samples (any shape, C order) in the canonical layout;
    ``packed`` for 1-bit samples (one 0/1 value per array element)."""
    import numpy as np

    if packed:
        bits = np.packbits(np.ascontiguousarray(arr).ravel() != 0, bitorder="little")
        return hashlib.sha256(bits.tobytes()).digest()
    a = np.ascontiguousarray(arr)
    if a.dtype.kind in "iu":
        is_signed = a.dtype.kind == "i" if signed is None else signed
        width = a.dtype.itemsize
        a = a.astype(a.dtype.newbyteorder("<"), copy=False).view(f"<u{width}")
        if bits_stored is not None:
            a = _canonical(a, bits_stored, is_signed)
    elif a.dtype.kind == "f":
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
    elif a.dtype.kind == "b":
        a = a.astype("<u1")
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).digest()


def native_layout(kept: dict[int, bytes], tag: int) -> Layout | None:
    """The layout of native pixel data from the image pixel module, or None if unsupported."""
    try:
        rows = _u16(kept[0x00280010])[0]
        cols = _u16(kept[0x00280011])[0]
        bits_alloc = _u16(kept[0x00280100])[0]
        spp = _u16(kept[0x00280002])[0] if len(kept.get(0x00280002, b"")) >= 2 else 1
        planar = _u16(kept[0x00280006])[0] if len(kept.get(0x00280006, b"")) >= 2 else 0
        stored_raw = kept.get(0x00280101, b"")
        bits_stored = _u16(stored_raw)[0] if len(stored_raw) >= 2 else bits_alloc
        rep_raw = kept.get(0x00280103, b"")
        signed = len(rep_raw) >= 2 and _u16(rep_raw)[0] == 1
        frames = int(kept.get(0x00280008, b"1").strip(b" \x00") or b"1")
    except (KeyError, ValueError, struct.error):
        return None
    photometric = kept.get(0x00280004, b"").strip(b" \x00")
    if photometric.endswith((b"_422", b"_420")):
        return None  # subsampled native layouts: no canonical form here
    is_float = tag != PIXEL_DATA
    if is_float:
        bits_alloc = 32 if tag == 0x7FE00008 else 64
        bits_stored, signed = bits_alloc, False
    if rows == 0 or cols == 0 or frames < 1 or spp < 1:
        return None
    if bits_alloc == 1 and not is_float:
        return Layout(rows, cols, spp, frames, 1, 1, False, planar, False, packed=True)
    if bits_alloc not in (8, 16, 32, 64):
        return None
    return Layout(rows, cols, spp, frames, bits_alloc // 8, bits_stored, signed, planar,
                  is_float)


class Canonicalizer:
    """Builds the decoded-pixel digest beside the pixel digest, piece by piece.

    ``swap`` is the byte width of the stored value's VR in Explicit VR Big Endian (0 for
    little endian, and for OB): each piece is turned into little-endian bytes by that width
    first. ``fresh``: see ``__init__``.
    """

    def __init__(self, layout: Layout, length: int, swap: int, fresh: bool = False) -> None:
        self.layout = layout
        self.swap = swap
        # the canonical stream is hashed on its own from the first byte (never continued from
        # the stored-pixel digest): swapped values, and anything whose stored digest does not
        # start with the bytes themselves (Explicit VR Big Endian: it starts with the VR)
        self.fresh = fresh or swap != 0
        self.length = length
        self.offset = 0
        self.canon: hashlib._Hash | None = None  # set once the canonical stream diverges
        self.final: bytes | None = None
        self.valid = layout.expected <= length
        # planar configuration 1 is reordered, and 1-bit data masked, on the whole value
        self.whole_value = (layout.spp > 1 and layout.planar == 1) or layout.packed
        if self.whole_value and length > WHOLE_VALUE_CAP:
            self.valid = False
            self.whole_value = False

    def _little(self, raw: bytes | memoryview) -> bytes | memoryview:
        """The stored bytes in little-endian order (PS3.5 §7.3: swapped by the VR's width)."""
        if not self.swap:
            return raw
        import numpy as np  # imported on first use: the command line starts faster without it

        w = self.swap
        n = len(raw) - len(raw) % w
        return np.frombuffer(raw, dtype=f">u{w}", count=n // w).byteswap().tobytes()

    def _samples(self, data: bytes | memoryview) -> Any:
        import numpy as np

        lay = self.layout
        w = lay.width
        return np.frombuffer(data, dtype=f"<{'f' if lay.is_float else 'u'}{w}",
                             count=len(data) // w)

    def _fix(self, a: Any) -> Any:
        lay = self.layout
        if lay.is_float:
            return a
        return _canonical(a, lay.bits_stored, lay.signed)

    def _canonical_bytes(self, part: memoryview) -> bool | None:
        """:meth:`_is_canonical` without numpy where the bytes alone tell: 8-bit samples, and
        16-bit ones with at least 9 bits stored (only their high byte is constrained). Deleting
        every allowed byte value (``bytes.translate``) leaves nothing when all are allowed.
        Most images are these, so most commands never import numpy (0.1 s per process, issue
        #10 §6). None: ask numpy."""
        allowed = self._allowed
        if allowed is None:
            return None
        if not allowed:
            return True
        data = part.tobytes()
        return not (data[1::2] if self.layout.width == 2 else data).translate(None, allowed)

    @cached_property
    def _allowed(self) -> bytes | None:
        """The byte values the constrained byte of a canonical sample may take; b"" when every
        sample is canonical; None when bytes cannot tell."""
        lay = self.layout
        if lay.is_float or not 0 < lay.bits_stored < lay.width * 8:
            return b""
        if lay.width == 2 and lay.bits_stored > 8:
            free = lay.bits_stored - 8  # bits of the high byte that hold the value
        elif lay.width == 1:
            free = lay.bits_stored
        else:
            return None
        if lay.signed:  # sign-extended: 0.. or ..255, with one bit fewer for the magnitude
            half = 1 << (free - 1)
            return bytes(range(half)) + bytes(range(256 - half, 256))
        return bytes(range(1 << free))

    def _is_canonical(self, a: Any) -> bool:
        """True when reducing to Bits Stored would change nothing (two reductions, no copy)."""

        lay = self.layout
        bits = lay.width * 8
        if lay.is_float or not 0 < lay.bits_stored < bits or a.size == 0:
            return True
        if lay.signed:
            v = a.view(f"<i{lay.width}")
            lo, hi = -(1 << (lay.bits_stored - 1)), (1 << (lay.bits_stored - 1)) - 1
            return bool(v.min() >= lo and v.max() <= hi)
        return bool(a.max() < (1 << lay.bits_stored))

    def piece(self, raw: bytes | memoryview, pixel: hashlib._Hash) -> None:
        """Feed the next piece (starting on a sample boundary) to ``pixel`` and the canon."""

        if not self.valid:
            pixel.update(raw)
            return
        if self.fresh:
            # the canonical stream differs from the stored one from the first byte
            if self.canon is None:
                self.canon = hashlib.sha256()
            data = self._little(raw)
            take = max(0, min(len(data), self.layout.expected - self.offset))
            if take:
                self.canon.update(self._fix(self._samples(memoryview(data)[:take])).tobytes())
            pixel.update(raw)
            self.offset += take
            return
        take = max(0, min(len(raw), self.layout.expected - self.offset))
        part = memoryview(raw)[:take]
        if take:
            if self.canon is None:
                canonical = self._canonical_bytes(part)
                a = None
                if canonical is None:
                    a = self._samples(part)
                    canonical = self._is_canonical(a)
                if not canonical:
                    # the raw prefix so far is canonical: continue from the pixel state
                    self.canon = pixel.copy()
                    self.canon.update(self._fix(self._samples(part) if a is None else a)
                                      .tobytes())
            else:
                self.canon.update(self._fix(self._samples(part)).tobytes())
        pixel.update(part)
        self.offset += take
        if take < len(raw):
            if self.canon is None:
                self.canon = pixel.copy()  # canonical stream ends here; padding follows
            pixel.update(memoryview(raw)[take:])
            self.offset += len(raw) - take

    def whole(self, value: bytes) -> None:
        """The whole value at once: 1-bit data masked after its last sample; planar
        configuration 1 reordered to interleaved samples."""
        import numpy as np

        if not self.valid:
            return
        lay = self.layout
        data = self._little(value)
        if lay.packed:
            canon = bytearray(data[: lay.expected])
            if lay.samples % 8:
                canon[-1] &= (1 << (lay.samples % 8)) - 1
            self.final = hashlib.sha256(canon).digest()
            return
        a = self._samples(memoryview(data)[: lay.expected])
        a = a.reshape(lay.frames, lay.spp, lay.rows, lay.cols).transpose(0, 2, 3, 1)
        self.final = hashlib.sha256(np.ascontiguousarray(self._fix(a)).tobytes()).digest()

    def digest(self, pixel: hashlib._Hash) -> bytes | None:
        if not self.valid:
            return None
        if self.final is not None:
            return self.final
        return (self.canon or pixel).digest()


PIXEL_KEYWORDS = {PIXEL_DATA: "PixelData", FLOAT_PIXEL_DATA: "FloatPixelData",
                  DOUBLE_FLOAT_PIXEL_DATA: "DoubleFloatPixelData"}


def _decoder_failure(exc: BaseException, what: str) -> DicomReadError:
    """The error for a decoder that failed on hostile or damaged data: pydicom raises many
    types, and a decoder plugin written in Rust (pylibjpeg-rle) panics with
    ``pyo3_runtime.PanicException``, a BaseException that ``except Exception`` lets through
    and that killed a whole verify run. Interrupts and exits still propagate."""
    if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
        raise exc
    return DicomReadError(f"{what} ({exc.__class__.__name__}: {exc})")


def _source(source: Path | bytes) -> Any:
    import io

    return io.BytesIO(source) if isinstance(source, bytes) else source


def _array_digest(arr: Any, ds: Any, tag: int) -> bytes:
    """The canonical digest of samples pydicom decoded from ``ds`` (a data set or an item)."""
    if tag != PIXEL_DATA:
        return canonical_digest(arr, None, None)
    if ds.get("BitsAllocated") == 1:
        return canonical_digest(arr, None, packed=True)
    stored = ds.get("BitsStored")
    return canonical_digest(arr, int(stored) if stored else None,
                            ds.get("PixelRepresentation") == 1)


def decoded_digest_of_file(source: Path | bytes, name: str = "") -> bytes:
    """Decode every frame with pydicom (any supported syntax) and digest it canonically.

    ``source`` is a file or, for an instance received over the network, its encoded bytes.
    """
    from pydicom import dcmread
    from pydicom.pixels.utils import pixel_array

    name = name or str(source)
    try:
        ds = dcmread(_source(source), stop_before_pixels=True)
        if ds.file_meta.get("TransferSyntaxUID") == DEFLATED_LE:
            # deflated data sets must be inflated whole: pixel_array cannot seek in them
            full = dcmread(_source(source))
            arr = pixel_array(full, raw=True)
        else:
            arr = pixel_array(_source(source), raw=True)
    except BaseException as exc:  # see _decoder_failure: decoder plugins may panic
        raise _decoder_failure(exc, f"{name}: pixel data cannot be decoded") from None
    tag = next((t for t, kw in PIXEL_KEYWORDS.items() if t != PIXEL_DATA and kw in ds),
               PIXEL_DATA)
    return _array_digest(arr, ds, tag)


def sniff_syntax(encapsulated: bytes) -> str | None:
    """The transfer syntax whose codestream starts the first fragment of encapsulated pixel
    data (PS3.5 §A.4), for a nested value encoded otherwise than its file says; None if unknown.
    JPEG: ISO/IEC 10918-1 SOF markers (C0 baseline, C1 extended, C3 lossless, F7 JPEG-LS);
    JPEG 2000: ISO/IEC 15444-1 SOC+SIZ, or the JP2 signature box."""
    if len(encapsulated) < 8:
        return None
    offset_table = int.from_bytes(encapsulated[4:8], "little")
    start = 8 + offset_table + 8
    head = encapsulated[start : start + 4096]
    if head[:4] == b"\xff\x4f\xff\x51" or head[4:12] == b"jP  \r\n\x87\n":
        return JPEG_2000_LOSSLESS
    if head[:2] == b"\xff\xd8":
        for marker, uid in ((b"\xff\xf7", JPEG_LS_LOSSLESS),
                            (b"\xff\xc3", JPEG_LOSSLESS_SV1),
                            (b"\xff\xc0", JPEG_BASELINE),
                            (b"\xff\xc1", JPEG_EXTENDED)):
            if marker in head:
                return uid
        return None
    if len(head) >= 64 and 1 <= int.from_bytes(head[:4], "little") <= 15:
        return RLE_LOSSLESS  # PS3.5 Annex G: an RLE header (segment count, offsets)
    return None


def decoded_nested_digest(source: Path | bytes, skip: frozenset[int], name: str = "") -> bytes:
    """The nested decoded digest (icons) as the walker defines it, decoding with pydicom.

    Per pixel data element inside an item, in file order: ``b"P"`` + tag + its canonical
    decoded digest. Encapsulated values are decoded with the file's transfer syntax, native
    ones as native data. ``skip`` holds the top-level sequences the header digest leaves out
    (the header profile's rewritable list): their contents do not count, as in the walker.
    """
    import struct

    from pydicom import dcmread
    from pydicom.pixels.decoders.base import get_decoder

    name = name or str(source)
    out = hashlib.sha256()
    try:
        ds = dcmread(_source(source), stop_before_pixels=True)
        ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
        native = EXPLICIT_BE if ts == EXPLICIT_BE else EXPLICIT_LE

        def visit(d: Any, top: bool) -> None:
            for el in d:
                tag = int(el.tag)
                if el.VR == "SQ":
                    if not (top and tag in skip):
                        for item in el.value:
                            visit(item, False)
                elif not top and tag in PIXEL_KEYWORDS:
                    syntax = ts if el.is_undefined_length else native
                    kw = PIXEL_KEYWORDS[tag]
                    decoder: Any = get_decoder(syntax)
                    try:
                        arr, _ = decoder.as_array(d, raw=True, pixel_keyword=kw)
                    except BaseException as exc:  # an icon in another codec, or a panic
                        _decoder_failure(exc, "")
                        other = sniff_syntax(el.value) if el.is_undefined_length else None
                        if other is None or other == syntax:
                            raise
                        decoder = get_decoder(other)
                        arr, _ = decoder.as_array(d, raw=True, pixel_keyword=kw)
                    out.update(struct.pack(">cI", b"P", tag) + _array_digest(arr, d, tag))

        visit(ds, True)
    except BaseException as exc:  # see _decoder_failure: decoder plugins may panic
        raise _decoder_failure(
            exc, f"{name}: pixel data inside an item (an icon) cannot be decoded") from None
    return out.digest()
