"""Walking archive folders and spreading per-file work over every core, in bounded memory."""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing as mp
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import AsyncResult
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

from pacsguard.errors import PacsguardError

T = TypeVar("T")
R = TypeVar("R")


def iter_files(roots: Iterable[Path]) -> Iterator[Path]:
    """Every regular file under the roots (absolute paths), any depth, in a stable order.

    Symlinks below the roots are skipped (a link is not an archived file). Streaming (one
    directory listing in memory at a time), so archive size does not matter. A root that does
    not exist raises ``PacsguardError`` naming it.
    """
    return map(Path, iter_file_paths(roots))


def iter_file_paths(roots: Iterable[Path]) -> Iterator[str]:
    """:func:`iter_files` as plain strings: the workers want strings, and building a ``Path``
    per file cost a tenth of verify's parent process (measured on 5,000 files)."""
    by_name = attrgetter("name")
    for given in roots:
        # absolute, symlinks in the root resolved: record and verify must name files alike
        root = given.expanduser().resolve()
        if root.is_file():
            yield str(root)
            continue
        if not root.is_dir():
            raise PacsguardError(f"{root}: no such file or folder")
        stack = [str(root)]
        while stack:
            d = stack.pop()
            try:
                with os.scandir(d) as it:
                    items = sorted(it, key=by_name)
            except OSError as exc:
                # An unreadable folder is reported through its own pseudo-file so it is seen.
                yield os.path.join(d, f"<unreadable folder: {exc.strerror}>")
                continue
            subdirs = []
            for e in items:
                if e.is_symlink():
                    continue
                if e.is_dir(follow_symlinks=False):
                    subdirs.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    yield e.path
            stack.extend(reversed(subdirs))


def write_fully(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may take fewer) and fsync it."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


_BUFFERS = threading.local()
#: 64 KiB. A reused 1 MiB buffer hashed no faster in one process and cost whole verify runs
#: ~0.06 s more system CPU per GB; 16 KiB hashed 6% slower (benchmarks/hash_bench.py and
#: interleaved verify runs, issue #10 §6).
READ_BUFFER = 64 << 10


def _read_buffer() -> bytearray:
    """A read buffer, one per thread, reused: allocating (and zero-filling) a fresh one per
    file cost ~0.2 s of CPU per 5,000 files (measured with 1 MiB buffers)."""
    buf: bytearray | None = getattr(_BUFFERS, "buf", None)
    if buf is None:
        buf = _BUFFERS.buf = bytearray(READ_BUFFER)
    return buf


def sha256_file(path: str) -> tuple[str, int, bytes | None, str]:
    """(path, size, SHA-256 or None, error). The verifier's fast path; reads in
    :data:`READ_BUFFER` blocks."""
    h = hashlib.sha256()
    size = 0
    buf = _read_buffer()
    view = memoryview(buf)
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
                size += n
    except PermissionError:
        return path, 0, None, "permission denied; give the user running pacsguard read access"
    except OSError as exc:
        return path, 0, None, f"cannot be read ({exc.strerror or exc})"
    return path, size, h.digest(), ""


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def parallel_map(func: Callable[[list[T]], list[R]], items: Iterable[T], workers: int,
                 chunk: int = 64, initializer: Callable[..., Any] | None = None,
                 initargs: tuple[Any, ...] = ()) -> Iterator[R]:
    """Apply ``func`` to chunks of ``items`` in worker processes; yield results in order.

    At most ``2 * workers`` chunks are in flight, so an archive of any size streams through
    in bounded memory. ``workers == 1`` runs in this process (no pickling, easier to debug),
    and so does a single chunk (at most ``chunk`` items, or none): a pool would hand it to one
    worker while this process waits, after forking the others for nothing (measured: 15-30 ms
    of every small command, the start of each worker, and its imports on its first file).
    """
    it = iter(items)

    def chunks() -> Iterator[list[T]]:
        while True:
            batch: list[T] = []
            for x in it:
                batch.append(x)
                if len(batch) >= chunk:
                    break
            if not batch:
                return
            yield batch

    batches = chunks()
    head = list(itertools.islice(batches, 2))
    if workers <= 1 or len(head) < 2:
        if not head:
            return
        if initializer is not None:
            initializer(*initargs)
        for batch in itertools.chain(head, batches):
            yield from func(batch)
        return
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    pool = ctx.Pool(workers, initializer=initializer, initargs=initargs)
    try:
        pending: deque[AsyncResult[list[R]]] = deque()
        for batch in itertools.chain(head, batches):
            pending.append(pool.apply_async(func, (batch,)))
            while len(pending) >= 2 * workers:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
