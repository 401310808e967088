"""The canonical decoded form of pixel data, used to recognise lossless transcoding.

Two encodings of the same image (say Explicit VR Little Endian and JPEG-LS lossless) store
different bytes but decode to the same samples. The *decoded pixel digest* is SHA-256 over the
samples in one canonical layout (docs/fingerprint.md §Transcoding):

- frames in order, rows top to bottom, columns left to right, samples interleaved
  (Planar Configuration 0), no colour-space conversion;
- each sample as an unsigned little-endian integer of Bits Allocated width, masked to
  Bits Stored (so sign extension and bits above Bits Stored do not count);
- Float and Double Float Pixel Data as little-endian IEEE values.

For native (uncompressed) instances this is computed while walking, mostly for free: when the
stored layout already is canonical it equals the pixel digest. Decoding compressed pixel data
(pydicom with the pylibjpeg plugins) happens only in :func:`decoded_digest_of_file`, which the
verifier calls when an instance's transfer syntax differs from the recorded one, and which
``record --decode-compressed`` calls for compressed instances.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np

from pacsguard.errors import DicomReadError

_u16 = struct.Struct("<H").unpack_from


def canonical_digest(arr: Any, bits_stored: int | None) -> bytes:
    """SHA-256 of an array of samples in the canonical layout described above."""
    a = np.ascontiguousarray(arr)
    if a.dtype.kind in "iu":
        width = a.dtype.itemsize
        a = a.view(f"{a.dtype.byteorder if a.dtype.byteorder in '<>' else '='}u{width}")
        a = a.astype(f"<u{width}", copy=False)
        if bits_stored is not None and 0 < bits_stored < width * 8:
            a = a & np.array((1 << bits_stored) - 1, dtype=f"<u{width}")
    elif a.dtype.kind == "f":
        a = a.astype(f"<f{a.dtype.itemsize}", copy=False)
    elif a.dtype.kind == "b":
        a = a.astype("<u1")
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).digest()


def decoded_digest_from_native(kept: dict[int, bytes], tag: int, value: bytes) -> bytes | None:
    """Canonical digest of native pixel bytes already in little-endian order."""
    try:
        rows = _u16(kept[0x00280010])[0]
        cols = _u16(kept[0x00280011])[0]
        bits_alloc = _u16(kept[0x00280100])[0]
        spp = _u16(kept[0x00280002])[0] if len(kept.get(0x00280002, b"")) >= 2 else 1
        planar = _u16(kept[0x00280006])[0] if len(kept.get(0x00280006, b"")) >= 2 else 0
        stored = _u16(kept[0x00280101])[0] if len(kept.get(0x00280101, b"")) >= 2 else None
        frames = int(kept.get(0x00280008, b"1").strip(b" \x00") or b"1")
    except (KeyError, ValueError, struct.error):
        return None
    if tag == 0x7FE00008:
        dtype = "<f4"
    elif tag == 0x7FE00009:
        dtype = "<f8"
    elif bits_alloc in (8, 16, 32, 64):
        dtype = f"<u{bits_alloc // 8}"
    else:
        return None
    width = np.dtype(dtype).itemsize
    count = frames * rows * cols * spp
    if count * width > len(value):
        return None
    arr = np.frombuffer(value, dtype=dtype, count=count)
    if spp > 1 and planar == 1:
        arr = arr.reshape(frames, spp, rows, cols).transpose(0, 2, 3, 1)
    return canonical_digest(arr, stored if dtype[1] == "u" else None)


def decoded_digest_of_file(path: Path) -> bytes:
    """Decode every frame with pydicom (any supported syntax) and digest it canonically."""
    from pydicom import dcmread
    from pydicom.pixels.utils import pixel_array

    try:
        ds = dcmread(path, stop_before_pixels=True)
        stored = ds.get("BitsStored")
        arr = pixel_array(path, raw=True)
    except Exception as exc:  # pydicom raises many types for undecodable pixel data
        raise DicomReadError(
            f"{path}: pixel data cannot be decoded ({exc.__class__.__name__}: {exc})"
        ) from None
    is_float = "FloatPixelData" in ds or "DoubleFloatPixelData" in ds
    return canonical_digest(arr, None if is_float else (int(stored) if stored else None))
