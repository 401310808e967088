"""The gateway's sending side: one forwarder thread per destination (docs/gateway.md).

Each forwarder takes its queue (``spool/out/<name>/``) oldest first, opens one association
(:class:`pacsguard.dicom.ul.Requestor`: TCP_NODELAY set; every network step times out after
``timeout_seconds``, so a stalled peer cannot hold the queue) proposing exactly the SOP
class and transfer syntax of each file, and sends them one by one: the data set's bytes as
received, never decoded. A file leaves the queue only when the destination answered Success
(or a warning, 0xB000-0xB007: stored). Any other C-STORE answer counts an attempt for that
file and the forwarder backs off (doubling from ``backoff_min_seconds`` to
``backoff_max_seconds``); after ``max_attempts`` the file moves to ``spool/dead/<name>/`` with
a ``dead_letter`` audit event. A refused association, a closed port or a connection that
times out only back off: an outage never turns a healthy image into a dead letter. A store
that gets no answer once the association is up (timeout, abort) does count an attempt for
that file, so one instance that makes the PACS fail every time cannot hold the queue for
ever; so does a presentation context the destination refuses (the reason names the SOP class
and the transfer syntax, UID and name, and the A-ASSOCIATE-AC result, PS3.8 Table 9-18: a
destination that takes only uncompressed images refuses a JPEG 2000 one), also when it
refuses every context of an association. With the default 20 attempts and backoff up to
300 s that takes over an hour of failures, and the instance is kept in ``dead/``, not lost.
The thread survives any exception (it is logged, audited, and backed off). Attempt counts
live in memory: a restart gives every file a fresh count (so a restart can only delay a dead
letter, never lose an instance).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pacsguard.dates import utc_now
from pacsguard.dicom import part10, ul
from pacsguard.dicom.pdu import Proposal
from pacsguard.dicom.status import STORED
from pacsguard.dicom.uids import valid_uid
from pacsguard.errors import AssociationError, NoContextAccepted
from pacsguard.gateway.audit import AuditEvent, AuditLog
from pacsguard.gateway.config import Destination
from pacsguard.gateway.spool import Spool, fsync_dir

# files per association: at most 120 distinct presentation contexts are proposed, and a new
# association with Orthanc cost ~25 ms (measured), a quarter of a millisecond per file at 100
BATCH = 1000


@dataclass
class DestinationState:
    name: str
    sent: int = 0
    failures: int = 0  # attempts that did not end in Success, since start
    dead_letters: int = 0
    last_error: str = ""
    last_error_at: str = ""
    last_success_at: str = ""
    attempts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Queued:
    path: Path
    sop_class: str
    sop_instance: str
    transfer_syntax: str


def _queued(path: Path) -> _Queued:
    """What the File Meta says about a spooled file (the receiver wrote it, PS3.10 §7.1)."""
    with open(path, "rb") as f:
        head = f.read(144)
        group_length = int.from_bytes(head[140:144], "little") if len(head) == 144 else 0
        meta = part10.read_meta(head + f.read(min(group_length, 1 << 16)))
    missing = [k for k, e in (("SOP class", 2), ("SOP instance", 3), ("transfer syntax", 0x10))
               if not meta.get(e)]
    if missing:
        raise AssociationError(f"its File Meta lacks the {', '.join(missing)} UID")
    return _Queued(path, meta[2], meta[3], meta[0x10])


class Forwarder(threading.Thread):
    def __init__(self, dest: Destination, spool: Spool, audit: AuditLog, calling_aet: str,
                 status_dir: Path) -> None:
        super().__init__(name=f"forward-{dest.name}", daemon=True)
        self.dest = dest
        self.spool = spool
        self.audit = audit
        self.calling_aet = dest.calling_ae_title or calling_aet
        self.queue = spool.out(dest.name)
        self.dead = spool.dead(dest.name)
        self.state = DestinationState(dest.name)
        self.status_file = status_dir / f"{dest.name}.json"
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._backoff = 0.0
        self._lock = threading.Lock()  # state, when several associations send at once
        self.cpu_seconds = 0.0  # thread CPU time spent sending
        self._pool = ThreadPoolExecutor(max_workers=dest.connections,
                                        thread_name_prefix=f"forward-{dest.name}")

    # -- control ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._halt.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                ok = self._once()
            except Exception as exc:
                ok = False
                self.state.failures += 1
                self.state.last_error = f"{exc.__class__.__name__}: {exc}"
                self.state.last_error_at = utc_now()
                with contextlib.suppress(Exception):
                    self.audit.write(AuditEvent.FORWARD_FAILED, destination=self.dest.name,
                                     reason=self.state.last_error)
            if ok:
                self._backoff = 0.0
            else:
                self._backoff = min(self.dest.backoff_max_seconds,
                                    max(self.dest.backoff_min_seconds, self._backoff * 2))
                self._halt.wait(self._backoff)
        self._pool.shutdown(wait=True)

    def _once(self) -> bool:
        """One round: send what is queued (or wait for work); False when it must back off.
        With ``connections`` > 1 the batch is dealt out, oldest first, to that many
        associations sending at once."""
        batch = sorted(self.queue.iterdir())[:BATCH]
        if not batch:
            self._write_status()
            self._wake.wait(1.0)
            self._wake.clear()
            return True
        n = min(self.dest.connections, max(1, len(batch) // 8))
        if n == 1:
            ok = self._send(batch)
        else:
            ok = all(self._pool.map(self._send, [batch[k::n] for k in range(n)]))
        self._write_status()
        return ok

    # -- sending ---------------------------------------------------------------------------
    def _send(self, batch: list[Path]) -> bool:
        """Send a batch on one association; False when it had to stop on a failure."""
        t = time.thread_time()
        try:
            return self._send_batch(batch)
        finally:
            with self._lock:
                self.cpu_seconds += time.thread_time() - t

    def _send_batch(self, batch: list[Path]) -> bool:
        items: list[_Queued] = []
        for p in batch:
            try:
                items.append(_queued(p))
            except FileNotFoundError:
                continue  # removed meanwhile (an operator, or a restart's recount)
            except OSError as exc:  # EMFILE, EIO: not the file's fault; try again later
                self._unreachable(f"cannot read the spooled file {p.name}: {exc}")
                return False
            except Exception as exc:
                self._fail(p, f"the spooled file's meta cannot be read ({exc})", dead_now=True)
        pairs = sorted({(q.sop_class, q.transfer_syntax) for q in items})[:120]
        if not pairs:
            return True
        d = self.dest
        try:
            assoc = ul.Requestor.connect(
                d.host, d.port, self.calling_aet, d.ae_title,
                [Proposal(sop, (ts,)) for sop, ts in pairs], ssl_context=d.ssl_context(),
                timeout=d.timeout_seconds)
        except NoContextAccepted as exc:  # not an outage: what these files are is refused
            for q in items:
                if (q.sop_class, q.transfer_syntax) in pairs:
                    self._fail(q.path, ul.refusal_text(exc.refused, q.sop_class,
                                                       q.transfer_syntax), sop=q.sop_instance)
            return False
        except AssociationError as exc:
            self._unreachable(f"{d.ae_title}@{d.host}:{d.port}: {exc}")
            return False
        try:
            for q in items:
                if self._halt.is_set():
                    break
                if (q.sop_class, q.transfer_syntax) not in pairs:
                    continue  # beyond this association's contexts: the next batch takes it
                ctx = assoc.context_for(q.sop_class, q.transfer_syntax)
                if ctx is None:  # the reason names the SOP class and transfer syntax refused
                    self._fail(q.path, assoc.refusal(q.sop_class, q.transfer_syntax),
                               sop=q.sop_instance)
                    continue
                try:
                    data = q.path.read_bytes()
                except FileNotFoundError:
                    continue
                try:
                    status = assoc.store(ctx, q.sop_class, q.sop_instance,
                                         memoryview(data)[part10.data_set_offset(data):])
                except AssociationError as exc:
                    self._fail(q.path, f"C-STORE no response ({exc})", sop=q.sop_instance)
                    return False
                if status in STORED:
                    self.spool.remove(q.path)
                    with self._lock:
                        self.state.sent += 1
                        self.state.attempts.pop(q.path.name, None)
                        self.state.last_success_at = utc_now()
                    continue
                self._fail(q.path, f"C-STORE status 0x{status:04X}", sop=q.sop_instance)
                return False
        finally:
            assoc.release()
            with contextlib.suppress(OSError):
                fsync_dir(self.queue)  # the removals of this batch, at once
        return True

    def _unreachable(self, why: str) -> None:
        """The destination cannot be reached or refuses us: back off, but count no attempt
        against any file (an outage must never turn healthy images into dead letters)."""
        with self._lock:
            self.state.failures += 1
            self.state.last_error, self.state.last_error_at = why, utc_now()
        self.audit.write(AuditEvent.FORWARD_FAILED, destination=self.dest.name, reason=why)

    def _fail(self, path: Path, why: str, dead_now: bool = False, sop: str = "") -> None:
        """One failed attempt for ``path`` (instance ``sop`` when its File Meta was read)."""
        named = {"sop_instance_uid": sop} if valid_uid(sop) else {}
        with self._lock:
            n = self.state.attempts.get(path.name, 0) + 1
            self.state.attempts[path.name] = n
            self.state.failures += 1
            self.state.last_error, self.state.last_error_at = why, utc_now()
        if dead_now or n >= self.dest.max_attempts:
            target = self.dead / path.name
            with contextlib.suppress(FileNotFoundError):
                os.replace(path, target)
                fsync_dir(self.dead)
                fsync_dir(path.parent)
            with self._lock:
                self.state.attempts.pop(path.name, None)
                self.state.dead_letters += 1
            self.audit.write(AuditEvent.DEAD_LETTER, destination=self.dest.name, file=path.name,
                             **named, attempts=n, reason=why)
        else:
            self.audit.write(AuditEvent.FORWARD_FAILED, destination=self.dest.name, file=path.name,
                             **named, attempt=n, reason=why)

    def _write_status(self) -> None:
        with self._lock:
            data = asdict(self.state)
        data["retrying"] = len(data.pop("attempts"))
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, self.status_file)


@dataclass(frozen=True)
class QueueStatus:
    destination: str
    depth: int
    oldest_age_s: float | None
    dead_letters: int
    sent: int
    failures: int
    last_error: str
    last_error_at: str


def queue_status(spool_root: Path, names: list[str]) -> list[QueueStatus]:
    """What ``gateway status`` shows: read from the spool folders and the forwarders' status
    files, so it works whether or not the gateway is running."""
    out = []
    now = time.time()
    for name in names:
        q = spool_root / "out" / name
        files = sorted(q.iterdir()) if q.is_dir() else []
        oldest = None
        if files:
            with contextlib.suppress(FileNotFoundError):
                oldest = now - files[0].stat().st_mtime
        dead = spool_root / "dead" / name
        st: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            st = json.loads((spool_root / "status" / f"{name}.json").read_text())
        out.append(QueueStatus(name, len(files), oldest,
                               len(list(dead.iterdir())) if dead.is_dir() else 0,
                               int(st.get("sent", 0)), int(st.get("failures", 0)),
                               str(st.get("last_error", "")), str(st.get("last_error_at", ""))))
    return out


class ForwarderProcess:
    """A destination's forwarder in a process of its own (``gateway run``).

    One Python process can run Python code on one core at a time: with receiving,
    fingerprinting, the ledger and forwarding in one process, the gateway used about 0.9 of a
    core end to end and stopped there while the second core still had room (measured, issue
    #4 §9). A forked process per destination sends on its own core. It shares nothing but
    the spool folders, the audit log (appends, fsynced), its status file and two pipes: the
    receiver writes ``w`` (wake) or ``q`` (stop) to one; the child writes the bytes its
    deliveries freed (``f<n>``) and, at the end, its CPU time (``c<s>``) to the other, so the
    receiver's spool count stays true. Pipes, not shared locks: a gateway killed while
    holding a shared lock would leave the child blocked on it for ever, still sending. When
    the gateway dies, the child reads end-of-file and stops (and Linux sends it SIGTERM).

    Start it before any thread: it is forked.
    """

    def __init__(self, dest: Destination, spool: Spool, audit_path: Path, calling_aet: str,
                 status_dir: Path) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.dest = dest
        self._to_child_r, self._to_child = os.pipe()
        self._from_child, self._from_child_w = os.pipe()
        os.set_blocking(self._to_child, False)
        os.set_blocking(self._from_child, False)
        self._partial = b""
        self.cpu_seconds = 0.0
        args = (dest, (spool.root, spool.max_bytes, spool.min_free, spool.destinations),
                audit_path, calling_aet, status_dir, self._to_child_r, self._from_child_w,
                os.getpid())
        self._proc = ctx.Process(target=_forwarder_main, args=args,
                                 name=f"pacsguard-forward-{dest.name}", daemon=False)

    def start(self) -> None:
        self._proc.start()
        os.close(self._to_child_r)  # the child's ends
        os.close(self._from_child_w)

    def _send(self, what: bytes) -> None:
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._to_child, what)  # a full pipe already holds a wake-up

    def wake(self) -> None:
        self._send(b"w")

    def stop(self) -> None:
        self._send(b"q")

    def join(self, timeout: float | None = None) -> None:
        self._proc.join(timeout)
        if self._proc.is_alive():  # stuck past its grace: it only ever loses a resend
            self._proc.kill()
            self._proc.join(5)
        with contextlib.suppress(OSError):
            os.close(self._to_child)

    def take_freed(self) -> int:
        """Bytes freed by deliveries since the last call (and the CPU time, once given)."""
        data = self._partial
        while True:
            try:
                chunk = os.read(self._from_child, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            data += chunk
        lines, _, self._partial = data.rpartition(b"\n")
        freed = 0
        for line in lines.split(b"\n") if lines else []:
            with contextlib.suppress(ValueError):
                if line.startswith(b"f"):
                    freed += int(line[1:])
                elif line.startswith(b"c"):
                    self.cpu_seconds = float(line[1:])
        return freed


def _forwarder_main(dest: Destination, spool_args: tuple[Path, int | None, int, list[str]],
                    audit_path: Path, calling_aet: str, status_dir: Path, control: int,
                    report: int, parent: int) -> None:
    """The forwarder process: run the destination's Forwarder thread until told to stop or
    orphaned; never returns (``os._exit``: nothing inherited from the parent is finalised
    here)."""
    import select
    import signal

    code = 0
    try:
        with contextlib.suppress(Exception):  # Linux: SIGTERM as soon as the parent dies
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        halt = threading.Event()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops us in order
        signal.signal(signal.SIGTERM, lambda *_: halt.set())
        spool = Spool(*spool_args)
        audit = AuditLog(audit_path)
        fwd = Forwarder(dest, spool, audit, calling_aet, status_dir)
        fwd.start()
        counted = spool.used
        while not halt.is_set() and os.getppid() == parent:
            ready, _, _ = select.select([control], [], [], 0.25)
            if ready:
                got = os.read(control, 4096)
                if not got or b"q" in got:  # end of file: the gateway is gone
                    break
                fwd.wake()
            if spool.used != counted:
                os.write(report, b"f%d\n" % (counted - spool.used))
                counted = spool.used
        fwd.stop()
        fwd.join(timeout=60)
        with contextlib.suppress(OSError):
            os.write(report, b"f%d\nc%f\n" % (counted - spool.used, fwd.cpu_seconds))
        audit.close()
    except BaseException:
        code = 1
    finally:
        os._exit(code)
