"""The canonical decoded form of pixel data, used to recognise lossless transcoding.

Two encodings of the same image (say Explicit VR Little Endian and JPEG-LS lossless) store
different bytes but decode to the same samples. The *decoded pixel digest* is SHA-256 over the
samples in one canonical layout (docs/fingerprint.md §Transcoding):

- frames in order, rows top to bottom, columns left to right, samples interleaved
  (Planar Configuration 0), no colour-space conversion;
- each integer sample as a little-endian integer of Bits Allocated width, reduced to Bits Stored:
  masked when Pixel Representation is 0, sign-extended from Bits Stored when it is 1 (so bits
  above Bits Stored, such as old overlay bits, do not count);
- Float and Double Float Pixel Data as little-endian IEEE values.

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
from pathlib import Path
from typing import Any

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

    @property
    def expected(self) -> int:
        return self.frames * self.rows * self.cols * self.spp * self.width


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


def canonical_digest(arr: Any, bits_stored: int | None, signed: bool | None = None) -> bytes:
    """SHA-256 of an array of decoded samples (any shape, C order) in the canonical layout."""
    import numpy as np

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
    is_float = tag != 0x7FE00010
    if is_float:
        bits_alloc = 32 if tag == 0x7FE00008 else 64
        bits_stored, signed = bits_alloc, False
    if bits_alloc not in (8, 16, 32, 64) or rows == 0 or cols == 0 or frames < 1 or spp < 1:
        return None
    return Layout(rows, cols, spp, frames, bits_alloc // 8, bits_stored, signed, planar,
                  is_float)


class Canonicalizer:
    """Builds the decoded-pixel digest beside the pixel digest, piece by piece."""

    def __init__(self, layout: Layout, length: int, swap: int) -> None:
        self.layout = layout
        self.swap = swap
        self.length = length
        self.offset = 0
        self.canon: hashlib._Hash | None = None  # set once the canonical stream diverges
        self.final: bytes | None = None
        self.valid = layout.expected <= length
        self.whole_value = layout.spp > 1 and layout.planar == 1
        if self.whole_value and length > WHOLE_VALUE_CAP:
            self.valid = False
            self.whole_value = False

    def _samples(self, raw: bytes | memoryview) -> Any:
        import numpy as np  # imported on first use: the command line starts faster without it

        lay = self.layout
        w = lay.width
        kind = "f" if lay.is_float else "u"
        if self.swap:
            return np.frombuffer(raw, dtype=f">{kind}{w}").astype(f"<{kind}{w}")
        return np.frombuffer(raw, dtype=f"<{kind}{w}")

    def _fix(self, a: Any) -> Any:
        lay = self.layout
        if lay.is_float:
            return a
        return _canonical(a, lay.bits_stored, lay.signed)

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
        take = max(0, min(len(raw), self.layout.expected - self.offset))
        part = memoryview(raw)[:take]
        if take:
            if self.canon is None:
                if self.swap:
                    fixed = self._fix(self._samples(part))
                    self.canon = pixel.copy()
                    self.canon.update(fixed.tobytes())
                else:
                    a = self._samples(part)
                    if not self._is_canonical(a):
                        # the raw prefix so far is canonical: continue from the pixel state
                        self.canon = pixel.copy()
                        self.canon.update(self._fix(a).tobytes())
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
        """Planar configuration 1: reorder to interleaved samples, then digest."""
        import numpy as np

        if not self.valid:
            return
        lay = self.layout
        a = self._samples(memoryview(value)[: lay.expected])
        a = a.reshape(lay.frames, lay.spp, lay.rows, lay.cols).transpose(0, 2, 3, 1)
        self.final = hashlib.sha256(np.ascontiguousarray(self._fix(a)).tobytes()).digest()

    def digest(self, pixel: hashlib._Hash) -> bytes | None:
        if not self.valid:
            return None
        if self.final is not None:
            return self.final
        return (self.canon or pixel).digest()


def decoded_digest_of_file(path: Path) -> bytes:
    """Decode every frame with pydicom (any supported syntax) and digest it canonically."""
    from pydicom import dcmread
    from pydicom.pixels.utils import pixel_array

    try:
        ds = dcmread(path, stop_before_pixels=True)
        stored = ds.get("BitsStored")
        signed = ds.get("PixelRepresentation") == 1
        if ds.file_meta.get("TransferSyntaxUID") == "1.2.840.10008.1.2.1.99":
            # deflated data sets must be inflated whole: pixel_array(path) cannot seek in them
            arr = pixel_array(dcmread(path), raw=True)
        else:
            arr = pixel_array(path, raw=True)
    except Exception as exc:  # pydicom raises many types for undecodable pixel data
        raise DicomReadError(
            f"{path}: pixel data cannot be decoded ({exc.__class__.__name__}: {exc})"
        ) from None
    is_float = "FloatPixelData" in ds or "DoubleFloatPixelData" in ds
    return canonical_digest(arr, None if is_float else (int(stored) if stored else None),
                            None if is_float else signed)
