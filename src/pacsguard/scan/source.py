"""Random access to a file's bytes that reads only the windows the scanner asks for.

The scanner needs the preamble, the element headers and a few values; it jumps over pixel data
and other large values. Small files are read whole (one ``read`` is cheaper than several);
larger ones are read in windows with ``os.pread``, so a 2 GB multi-frame file costs a few
reads. ``mmap`` would be simpler but turns a file truncated during the scan into SIGBUS, which
no Python code can catch; a short read here is an ordinary
:class:`~pacsguard.errors.ShortRead`.
"""

from __future__ import annotations

import os

from pacsguard.errors import ShortRead

WINDOW = 128 << 10  # bytes read per window
WHOLE_FILE = 256 << 10  # files up to this size are read in one call


class Source:
    """Bytes ``[0, size)`` by absolute offset; ``buf`` holds ``[base, base + len(buf))``.

    ``buf`` and ``base`` are public so the scanner's loop can read headers straight out of
    the buffer and call :meth:`window` only when it runs off the end.
    """

    __slots__ = ("_fd", "base", "buf", "size")

    def __init__(self, data: bytes, size: int | None = None, fd: int | None = None) -> None:
        self.buf = data
        self.base = 0
        self.size = len(data) if size is None else size
        self._fd = fd

    def window(self, pos: int, need: int) -> None:
        """Make ``buf`` cover ``[pos, pos + need)``; :class:`ShortRead` if the file ends."""
        if self.base <= pos and pos + need <= self.base + len(self.buf):
            return
        if self._fd is None or pos + need > self.size:
            raise ShortRead(min(self.size, pos))
        data = os.pread(self._fd, min(max(need, WINDOW), self.size - pos), pos)
        if len(data) < need:
            raise ShortRead(pos + len(data))
        self.buf = data
        self.base = pos

    def read(self, start: int, end: int) -> bytes:
        """The bytes ``[start, end)`` (clipped to the file), without moving the window."""
        end = min(end, self.size)
        if start >= end:
            return b""
        base = self.base
        if base <= start and end <= base + len(self.buf):
            return self.buf[start - base : end - base]
        if self._fd is None:
            raise ShortRead(start)
        data = os.pread(self._fd, end - start, start)
        if len(data) < end - start:
            raise ShortRead(start + len(data))
        return data


FIRST_READ = 64 << 10  # one read; a file shorter than this needs no fstat


def open_source(fd: int, size: int, first: bytes = b"") -> Source:
    """A :class:`Source` over an open regular file of ``size`` bytes whose first bytes
    (``first``) were read already: whole if small, else its first window."""
    if size <= WHOLE_FILE:
        rest = os.pread(fd, size - len(first), len(first)) if size > len(first) else b""
        return Source(first + rest, size, fd)
    return Source(first or os.pread(fd, WINDOW, 0), size, fd)
