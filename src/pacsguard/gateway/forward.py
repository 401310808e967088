"""The gateway's sending side: one forwarder thread per destination (docs/gateway.md).

Each forwarder takes its queue (``spool/out/<name>/``) oldest first, opens one association
(TCP_NODELAY set; DIMSE timeout ``timeout_seconds``, since a stalled peer must not hold the
queue, PEERS.md pitfall 3) proposing exactly the SOP class and transfer syntax of each file,
and sends them one by one. A file leaves the queue only when the destination answered Success
(or a warning, 0xB000-0xB007: stored). Any other C-STORE answer counts an attempt for that
file and the forwarder backs off (doubling from ``backoff_min_seconds`` to
``backoff_max_seconds``); after ``max_attempts`` the file moves to ``spool/dead/<name>/`` with
a ``dead_letter`` audit event. A refused association, a closed port or a timeout only back
off: an outage never turns a healthy image into a dead letter. The thread survives any
exception (it is logged, audited, and backed off). Attempt counts live in memory: a restart
gives every file a fresh count (so a restart can only delay a dead letter, never lose an
instance).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pacsguard.gateway.config import Destination
from pacsguard.gateway.server import AuditLog, Spool, fsync_dir
from pacsguard.integrity.ledger import utc_now

BATCH = 100  # files per association: bounded presentation contexts (<= 128) and latency
#: C-STORE statuses meaning "stored": success and the PS3.4 B.2.3 warnings
STORED = frozenset({0x0000, 0xB000, 0xB006, 0xB007})


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


def _meta(path: Path) -> tuple[str, str]:
    """(SOP Class UID, Transfer Syntax UID) from the file meta, without the data set."""
    from pydicom.filereader import read_file_meta_info

    meta = read_file_meta_info(path)
    return str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)


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
                    self.audit.write("forward_failed", destination=self.dest.name,
                                     reason=self.state.last_error)
            if ok:
                self._backoff = 0.0
            else:
                self._backoff = min(self.dest.backoff_max_seconds,
                                    max(self.dest.backoff_min_seconds, self._backoff * 2))
                self._halt.wait(self._backoff)

    def _once(self) -> bool:
        """One round: send what is queued (or wait for work); False when it must back off."""
        batch = sorted(self.queue.iterdir())[:BATCH]
        if not batch:
            self._write_status()
            self._wake.wait(1.0)
            self._wake.clear()
            return True
        ok = self._send(batch)
        self._write_status()
        return ok

    # -- sending ---------------------------------------------------------------------------
    def _send(self, batch: list[Path]) -> bool:
        """Send a batch on one association; False when it had to stop on a failure."""
        from pynetdicom import AE

        contexts: dict[Path, tuple[str, str]] = {}
        for p in batch:
            try:
                contexts[p] = _meta(p)
            except FileNotFoundError:
                continue  # removed meanwhile (an operator, or a restart's recount)
            except OSError as exc:  # EMFILE, EIO: not the file's fault; try again later
                self._unreachable(f"cannot read the spooled file {p.name}: {exc}")
                return False
            except Exception as exc:
                self._fail(p, f"the spooled file's meta cannot be read ({exc})", dead_now=True)
        pairs = sorted(set(contexts.values()))[:120]
        if not pairs:
            return True
        ae = AE(ae_title=self.calling_aet)
        for sop, ts in pairs:
            ae.add_requested_context(sop, ts)
        ae.acse_timeout = ae.network_timeout = ae.connection_timeout = self.dest.timeout_seconds
        ae.dimse_timeout = self.dest.timeout_seconds
        try:
            tls = self.dest.ssl_context()
            assoc = ae.associate(self.dest.host, self.dest.port, ae_title=self.dest.ae_title,
                                 tls_args=(tls, self.dest.host) if tls is not None else None)
        except (OSError, ssl.SSLError) as exc:
            self._unreachable(f"cannot connect: {exc}")
            return False
        if not assoc.is_established:
            what = "refused the association" if assoc.is_rejected else \
                "did not answer the association"
            self._unreachable(f"{self.dest.ae_title}@{self.dest.host}:{self.dest.port} {what}")
            return False
        sock = assoc.dul.socket.socket if assoc.dul.socket else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for p, (sop, ts) in contexts.items():
                if self._halt.is_set():
                    break
                if (sop, ts) not in pairs:
                    continue  # beyond this association's contexts: the next batch takes it
                if not assoc.is_established:  # the peer released or aborted it meanwhile
                    self._unreachable("the destination ended the association")
                    return False
                if not [c for c in assoc.accepted_contexts
                        if c.abstract_syntax == sop and c.transfer_syntax[0] == ts]:
                    self._fail(p, f"destination does not accept SOP class {sop} in transfer "
                               f"syntax {ts}")
                    continue
                rsp = assoc.send_c_store(p)
                status = int(rsp.Status) if rsp and "Status" in rsp else None
                if status in STORED:
                    self.spool.remove(p)
                    self.state.sent += 1
                    self.state.attempts.pop(p.name, None)
                    self.state.last_success_at = utc_now()
                    continue
                why = ("no response (timeout or abort)" if status is None else
                       f"status 0x{status:04X}")
                self._fail(p, f"C-STORE {why}")
                return False
        finally:
            if assoc.is_established:
                assoc.release()
        return True

    def _unreachable(self, why: str) -> None:
        """The destination cannot be reached or refuses us: back off, but count no attempt
        against any file (an outage must never turn healthy images into dead letters)."""
        self.state.failures += 1
        self.state.last_error, self.state.last_error_at = why, utc_now()
        self.audit.write("forward_failed", destination=self.dest.name, reason=why)

    def _fail(self, path: Path, why: str, dead_now: bool = False) -> None:
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
            self.state.attempts.pop(path.name, None)
            self.state.dead_letters += 1
            self.audit.write("dead_letter", destination=self.dest.name, file=path.name,
                             attempts=n, reason=why)
        else:
            self.audit.write("forward_failed", destination=self.dest.name, file=path.name,
                             attempt=n, reason=why)

    def _write_status(self) -> None:
        data = asdict(self.state)
        data.pop("attempts")
        data["retrying"] = len(self.state.attempts)
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
