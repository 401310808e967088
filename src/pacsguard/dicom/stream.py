"""A forward-only byte stream over a DICOM file that hashes every byte it reads from disk.

The fingerprint must be computed in one pass (issue #2 §2): the same bytes feed the whole-file
SHA-256 and the element walker. This stream reads the file in large chunks, updates the file
digest with each raw chunk, and hands the walker small reads from an in-memory buffer. Large
values (pixel data, big blobs) are streamed into their digests chunk by chunk, so memory stays
bounded whatever the file size.

Deflated Explicit VR Little Endian (PS3.5 §A.5) is supported by switching the stream, after the
File Meta Information, to inflate the raw chunks; the file digest still covers the raw bytes.
"""

from __future__ import annotations

import zlib
from typing import Any, BinaryIO, Protocol

CHUNK = 1 << 20


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class TruncatedError(Exception):
    """The file ended inside an element; carries the logical offset where it happened."""

    def __init__(self, offset: int, wanted: int) -> None:
        super().__init__(f"file ends at byte {offset} while {wanted} more bytes were expected")
        self.offset = offset
        self.wanted = wanted


class HashingStream:
    """Buffered reader that feeds every raw byte to ``file_hash``."""

    __slots__ = ("_buf", "_eof", "_f", "_hash", "_inflater", "_pos", "consumed")

    def __init__(self, f: BinaryIO, file_hash: _Hasher) -> None:
        self._f = f
        self._hash = file_hash
        self._buf = b""
        self._pos = 0
        self._inflater: Any = None
        self._eof = False
        #: logical bytes consumed so far (after inflation, if deflated)
        self.consumed = 0

    # -- raw input -------------------------------------------------------------------------
    def _next_chunk(self) -> bytes:
        while not self._eof:
            raw = self._f.read(CHUNK)
            if not raw:
                self._eof = True
                if self._inflater is not None:
                    return bytes(self._inflater.flush())
                return b""
            self._hash.update(raw)
            if self._inflater is None:
                return raw
            out = self._inflater.decompress(raw)
            if out:
                return bytes(out)
        return b""

    def _fill(self, n: int) -> bool:
        avail = len(self._buf) - self._pos
        while avail < n:
            chunk = self._next_chunk()
            if not chunk:
                return False
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
            avail = len(self._buf)
        return True

    def start_inflating(self) -> None:
        """Inflate everything after the current position (PS3.5 §A.5, raw DEFLATE)."""
        rest = self._buf[self._pos :]
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self._buf = bytes(self._inflater.decompress(rest))
        self._pos = 0

    # -- reads for the walker ----------------------------------------------------------------
    def peek(self, n: int) -> bytes:
        """Up to ``n`` next bytes without consuming them (fewer at end of file)."""
        self._fill(n)
        return self._buf[self._pos : self._pos + n]

    def read(self, n: int) -> bytes:
        if not self._fill(n):
            raise TruncatedError(self.consumed + len(self._buf) - self._pos, n)
        p = self._pos
        self._pos = p + n
        self.consumed += n
        return self._buf[p : p + n]

    def at_end(self) -> bool:
        return not self._fill(1)

    def stream(self, n: int, *hashers: _Hasher) -> None:
        """Consume ``n`` bytes, feeding them to each hasher, without holding them all."""
        while n > 0:
            if len(self._buf) - self._pos == 0 and not self._fill(1):
                raise TruncatedError(self.consumed, n)
            take = min(n, len(self._buf) - self._pos)
            view = memoryview(self._buf)[self._pos : self._pos + take]
            for h in hashers:
                h.update(view)
            self._pos += take
            self.consumed += take
            n -= take

    def drain(self) -> int:
        """Read the rest of the file (so the file digest is complete); return its length."""
        extra = len(self._buf) - self._pos
        self._buf = b""
        self._pos = 0
        while True:
            chunk = self._next_chunk()
            if not chunk:
                return extra
            extra += len(chunk)
