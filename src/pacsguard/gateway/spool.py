"""The gateway's spool: the durable store of received instances between the receiver, which
writes them, and the forwarders, which deliver them (docs/gateway.md).

The receiver writes each instance to ``tmp/`` (file and folder fsynced) before it answers
Success, then links it into each destination's queue; the forwarders remove their link once
the destination stored it. Linking is not fsynced per instance: an acknowledged instance is
durable in ``tmp/`` and in the ledger, and start-up recovery (``Receiver.recover``) queues every
``tmp/`` file whose content the ledger holds and deletes the rest (never acknowledged).

The spool counts its bytes (``used`` and ``pending`` reservations) so that a store that would
pass ``spool_max_bytes`` or the disk's free-space floor is refused before anything is written.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import stat
import threading
import time
from pathlib import Path

from pacsguard.files import write_fully


class Spool:
    """The durable store of received instances, on one file system:

    * ``tmp/``: being written, or written and recorded but not yet queued (start-up
      recovery queues those the ledger holds and deletes the rest);
    * ``out/<destination>/``: waiting for that destination, one hard link per destination, so
      the bytes are stored once and each destination removes only its own link;
    * ``held/``: kept when no destination is configured;
    * ``dead/<destination>/``: given up on after ``max_attempts``; kept for a person;
    * ``quarantine/``: received instances the scan found weaponised; kept for a person, never
      forwarded.
    """

    def __init__(self, root: Path, max_bytes: int | None, min_free: int,
                 destinations: list[str]) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.held = root / "held"
        self.quarantined = root / "quarantine"
        self.destinations = destinations
        for d in (self.tmp, self.held, self.quarantined, *(self.out(n) for n in destinations),
                  *(self.dead(n) for n in destinations)):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.max_bytes = max_bytes
        self.min_free = min_free
        self._lock = threading.Lock()
        self.used = 0  # bytes of the files in the spool
        self.pending = 0  # bytes reserved by stores still writing
        self.recount()
        # empty files made ahead in tmp/, their names already durable (see write_tmp)
        self._ready: collections.deque[str] = collections.deque()
        self._refilling = threading.Lock()

    def out(self, name: str) -> Path:
        return self.root / "out" / name

    def dead(self, name: str) -> Path:
        return self.root / "dead" / name

    def recount(self) -> int:
        """Bytes on disk in the spool (each stored file once, however many links). Stores in
        flight keep their reservations (``pending``), so a recount while they write can only
        over-count them for a moment (refusing early, never accepting too much)."""
        seen: dict[int, int] = {}
        for entry in self.root.rglob("*"):
            try:
                st = entry.stat()
            except FileNotFoundError:  # delivered or moved meanwhile
                continue
            if stat.S_ISREG(st.st_mode):
                seen[st.st_ino] = st.st_size
        with self._lock:
            self.used = sum(seen.values())
        return self.used

    def reserve(self, n: int) -> str | None:
        """Why ``n`` more bytes cannot be taken, or None (and they are counted). Before
        refusing, the spool is counted again from disk, so dead letters an operator removed
        (or any drift) never keep it refusing."""
        for attempt in (1, 2):
            with self._lock:
                full = self.max_bytes is not None and \
                    self.used + self.pending + n > self.max_bytes
                if not full:
                    free = shutil.disk_usage(self.root).free
                    if free - n < self.min_free:
                        return f"spool disk nearly full ({free:,} bytes free)"
                    self.pending += n
                    return None
            if attempt == 1:
                self.recount()
        return f"spool full ({self.used + self.pending + n:,} > {self.max_bytes:,} bytes)"

    def settle(self, n: int) -> None:
        """A reservation whose file is now in the spool (queued or quarantined)."""
        with self._lock:
            self.pending -= n
            self.used += n

    def forget(self, n: int) -> None:
        """Bytes another process freed (a forwarder process's deliveries)."""
        with self._lock:
            self.used -= n

    def release(self, n: int) -> None:
        """A reservation given up (the store failed; its file is gone)."""
        with self._lock:
            self.pending -= n

    READY = 64  # empty files kept made ahead

    def prepare(self) -> None:
        """Make empty files in ``tmp/`` ahead of need, and fsync the folder once for all of
        them. Creating a file and making its name durable cost about 0.6 ms of the 1.7 ms a
        spool write took (file creation, then a folder fsync; measured), on the path every
        acknowledgement waits for; made ahead, a write is only write and fsync. Leftovers
        are empty files, which start-up recovery deletes like any unrecorded one."""
        if not self._refilling.acquire(blocking=False):
            return  # another thread is at it
        try:
            made: list[str] = []
            while len(self._ready) + len(made) < self.READY:
                fd, name = _mkstemp(self.tmp)
                os.close(fd)
                made.append(name)
            if made:
                fsync_dir(self.tmp)
                self._ready.extend(made)
        finally:
            self._refilling.release()

    def write_tmp(self, data: bytes) -> Path:
        """Write ``data`` to a new file in ``tmp/`` and make it durable (the file's bytes
        and its name); return its path."""
        try:
            name = self._ready.popleft()
            fd = os.open(name, os.O_WRONLY | os.O_TRUNC)
            named = True
        except (IndexError, OSError):  # none made ahead (or one removed): make one now
            fd, name = _mkstemp(self.tmp)
            named = False
        try:
            write_fully(fd, data)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise
        os.close(fd)
        if not named:
            fsync_dir(self.tmp)
        return Path(name)

    def unprepare(self) -> None:
        """Remove the empty files made ahead (at shutdown)."""
        with self._refilling:
            while self._ready:
                with contextlib.suppress(OSError):
                    os.unlink(self._ready.popleft())

    @property
    def ready(self) -> int:
        return len(self._ready)

    def leftovers(self) -> list[Path]:
        """Files in ``tmp/`` (a crash came between writing and queueing), for recovery; the
        empty files made ahead are among them and no longer counted as ready."""
        self._ready.clear()
        return sorted(self.tmp.iterdir())

    def commit(self, tmp: Path, name: str, durable: bool = False) -> list[Path]:
        """Link the written file into every destination's queue (or ``held/``), drop the
        temporary name; return the queued paths. All links or none: a failure part-way
        removes those already made, then raises. ``durable`` fsyncs the folders (recovery
        does; the store path need not, see the module docstring). A name already queued
        (recovery after a crash between linking and unlinking) is kept."""
        folders = [self.out(n) for n in self.destinations] or [self.held]
        placed: list[Path] = []
        try:
            for folder in folders:
                final = folder / name
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    if not durable:
                        raise
                placed.append(final)
                if durable:
                    fsync_dir(folder)
        except OSError:
            for p in placed:
                with contextlib.suppress(OSError):
                    p.unlink()
            raise
        self._unlink_counted(tmp)
        if durable:
            fsync_dir(self.tmp)
        return placed

    def quarantine(self, tmp: Path, name: str) -> Path:
        """Move a written file into ``quarantine/`` (durably), out of every queue."""
        final = self.quarantined / name
        os.replace(tmp, final)
        fsync_dir(self.quarantined)
        fsync_dir(self.tmp)
        return final

    def _unlink_counted(self, path: Path) -> None:
        """Unlink ``path``; when that was the file's last name, give its bytes back. Under
        the lock, so two names of one file removed at once cannot both think another one
        remains (which would leak the bytes and end in a spool that refuses while empty)."""
        with self._lock:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                return
            try:
                os.unlink(path)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if st.st_nlink == 0:
                self.used -= st.st_size

    def remove(self, path: Path) -> None:
        """Drop one queue link (delivered); the bytes are released with the last link. Not
        fsynced: a removal a crash undoes only sends the instance once more (the destination
        stores it again, unchanged); the forwarder fsyncs the folder once per batch."""
        self._unlink_counted(path)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkstemp(folder: Path) -> tuple[int, str]:
    for _ in range(100):
        name = str(folder / f"{time.time_ns()}-{os.urandom(4).hex()}.part")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name
        except FileExistsError:
            continue
    raise OSError("cannot create a spool file")


def queued_name(tmp: Path) -> str:
    """The queue name of a spool file: its ``tmp/`` name (arrival time first, so queues sort
    oldest first) with ``.dcm``; the same on recovery, so a link made before a crash is
    recognised."""
    return tmp.name.removesuffix(".part") + ".dcm"

