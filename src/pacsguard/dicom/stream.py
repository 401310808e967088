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

from pacsguard.errors import TruncatedError

CHUNK = 4 << 20


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class HashingStream:
    """Buffered reader that feeds every raw byte to ``file_hash``.

    ``buf``/``pos``/``base`` are public so the walker's hot loop can parse straight out of the
    buffer (``base + pos`` is the logical offset) and call :meth:`fill` only near its end.
    """

    __slots__ = ("_eof", "_f", "_hash", "_inflater", "base", "buf", "complete", "pos")

    def __init__(self, f: BinaryIO, file_hash: _Hasher, first_read: int = CHUNK) -> None:
        self._f = f
        self._hash = file_hash
        self._inflater: Any = None
        self._eof = False
        self.buf = b""
        self.pos = 0
        self.base = 0
        raw = f.read(first_read)  # small files: the whole file in one read
        #: the whole file is in ``buf`` (a short first read), so the walker may parse straight
        #: out of it without asking for more
        self.complete = len(raw) < first_read
        if raw:
            file_hash.update(raw)
            self.buf = raw
        else:
            self._eof = True

    @property
    def offset(self) -> int:
        """Logical bytes consumed so far (after inflation, if deflated)."""
        return self.base + self.pos

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

    def fill(self, n: int) -> bool:
        """Make ``n`` bytes available at ``pos``; False if the file ends first."""
        while len(self.buf) - self.pos < n:
            chunk = self._next_chunk()
            if not chunk:
                return False
            self.base += self.pos
            self.buf = self.buf[self.pos :] + chunk
            self.pos = 0
        return True

    def start_inflating(self) -> None:
        """Inflate everything after the current position (PS3.5 §A.5, raw DEFLATE)."""
        rest = self.buf[self.pos :]
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.base += self.pos
        self.buf = bytes(self._inflater.decompress(rest))
        self.pos = 0
        # the whole data set inflated from a file read whole: the walker may parse it in place
        self.complete = self.complete and self._inflater.eof

    # -- reads for the walker ----------------------------------------------------------------
    def peek(self, n: int) -> bytes:
        """Up to ``n`` next bytes without consuming them (fewer at end of file)."""
        self.fill(n)
        return self.buf[self.pos : self.pos + n]

    def read(self, n: int) -> bytes:
        return bytes(self.read_view(n))

    def read_view(self, n: int) -> memoryview:
        """Like :meth:`read`, without copying when the bytes are already buffered."""
        p = self.pos
        if p + n > len(self.buf):
            if not self.fill(n):
                raise TruncatedError(self.base + len(self.buf), n - (len(self.buf) - self.pos))
            p = self.pos
        self.pos = p + n
        return memoryview(self.buf)[p : p + n]

    def at_end(self) -> bool:
        return self.pos >= len(self.buf) and not self.fill(1)

    def stream(self, n: int, *hashers: _Hasher) -> None:
        """Consume ``n`` bytes, feeding them to each hasher, without holding them all."""
        while n > 0:
            if len(self.buf) - self.pos == 0 and not self.fill(1):
                raise TruncatedError(self.offset, n)
            take = min(n, len(self.buf) - self.pos)
            if hashers:
                view = memoryview(self.buf)[self.pos : self.pos + take]
                for h in hashers:
                    h.update(view)
            self.pos += take
            n -= take

    def drain(self) -> int:
        """Read the rest of the file (so the file digest is complete); return its length."""
        extra = len(self.buf) - self.pos
        self.base += len(self.buf)
        self.buf = b""
        self.pos = 0
        while True:
            chunk = self._next_chunk()
            if not chunk:
                return extra
            extra += len(chunk)
