"""The gateway's receiving side: a DICOM Storage SCP that records before it acknowledges.

For each C-STORE (docs/gateway.md):
1. refuse (0xA700, Out of Resources) if the spool would pass its size limit or its disk's
   free-space floor;
2. write the encoded bytes, as received (no decode, no re-encode), to a temporary file in the
   spool and fsync it;
3. fingerprint that file and append it to the ledger (committed: WAL fsync). An instance
   recorded before with the same content appends nothing; with other content it is recorded
   as a superseding entry naming the one it replaces and the sender, never silently;
4. link the file into each destination's queue (``out/<name>/``, or ``held/`` when none is
   configured) and fsync those folders;
5. only then answer Success. Any failure on the way answers 0xA700 (the modality retries)
   and leaves no queued file.

Who may send: the calling AE title must be on the allow-list with the caller's IP address, and
the called AE title must be the gateway's; anything else is refused at association time with
A-ASSOCIATE-RJ (rejected-permanent, service-user, calling / called AE title not recognised).
Every association, accepted or refused, is written to the audit log (JSON lines): who, from
where, when, how many stored or failed, of which SOP classes; never patient data.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pacsguard.errors import DicomReadError, PacsguardError
from pacsguard.gateway.config import GatewayConfig
from pacsguard.integrity.entry import LedgerEntry
from pacsguard.integrity.files import write_fully
from pacsguard.integrity.fingerprint import fingerprint_file
from pacsguard.integrity.ledger import (
    Ledger,
    PendingEntry,
    pack_clinical_attrs,
    unpack_clinical_attrs,
    utc_now,
)
from pacsguard.integrity.profile import HeaderProfile
from pacsguard.integrity.status import Status, compare
from pacsguard.store.schema import receipts

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000


class AuditLog:
    """Append-only JSON lines, one per event, flushed and fsynced as written."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"at": utc_now(), "event": event, **fields}, sort_keys=True,
                          ensure_ascii=False) + "\n"
        with self._lock:
            if self._fd is None:  # closed: a late thread must not write into a reused fd
                return
            os.write(self._fd, line.encode())
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


@dataclass
class _AssocStats:
    calling_aet: str
    address: str
    port: int
    started: float = field(default_factory=time.monotonic)
    stored: int = 0
    failed: int = 0
    sop_classes: Counter[str] = field(default_factory=Counter)


class Spool:
    """The durable store of received instances, on one file system:

    * ``tmp/``: being written; never acknowledged (deleted at start-up);
    * ``out/<destination>/``: waiting for that destination, one hard link per destination, so
      the bytes are stored once and each destination removes only its own link;
    * ``held/``: kept when no destination is configured;
    * ``dead/<destination>/``: given up on after ``max_attempts``; kept for a person.
    """

    def __init__(self, root: Path, max_bytes: int | None, min_free: int,
                 destinations: list[str]) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.held = root / "held"
        self.destinations = destinations
        for d in (self.tmp, self.held, *(self.out(n) for n in destinations),
                  *(self.dead(n) for n in destinations)):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
        for stale in self.tmp.iterdir():  # half-written before a crash: never acknowledged
            stale.unlink()
        self.max_bytes = max_bytes
        self.min_free = min_free
        self._lock = threading.Lock()
        self.used = 0
        self.recount()

    def out(self, name: str) -> Path:
        return self.root / "out" / name

    def dead(self, name: str) -> Path:
        return self.root / "dead" / name

    def recount(self) -> int:
        """Bytes on disk in the spool (each stored file once, however many links)."""
        seen: dict[int, int] = {}
        for folder in self.root.rglob("*"):
            if folder.is_file():
                st = folder.stat()
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
                full = self.max_bytes is not None and self.used + n > self.max_bytes
                if not full:
                    free = shutil.disk_usage(self.root).free
                    if free - n < self.min_free:
                        return f"spool disk nearly full ({free:,} bytes free)"
                    self.used += n
                    return None
            if attempt == 1:
                self.recount()
        return f"spool full ({self.used + n:,} > {self.max_bytes:,} bytes)"

    def release(self, n: int) -> None:
        with self._lock:
            self.used -= n

    def write_tmp(self, data: bytes) -> Path:
        fd, name = _mkstemp(self.tmp)
        try:
            write_fully(fd, data)
        finally:
            os.close(fd)
        return Path(name)

    def commit(self, tmp: Path, name: str) -> list[Path]:
        """Link the written file into every destination's queue (or ``held/``), fsync those
        folders, drop the temporary name; return the queued paths. All links or none: a
        failure part-way removes those already made, then raises."""
        folders = [self.out(n) for n in self.destinations] or [self.held]
        placed: list[Path] = []
        try:
            for folder in folders:
                final = folder / name
                os.link(tmp, final)
                placed.append(final)
                fsync_dir(folder)
        except OSError:
            for p in placed:
                with contextlib.suppress(OSError):
                    p.unlink()
                    fsync_dir(p.parent)
            raise
        self._unlink_counted(tmp)
        return placed

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
        """Drop one queue link (delivered); the bytes are released with the last link."""
        self._unlink_counted(path)
        fsync_dir(path.parent)


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


class Receiver:
    """The SCP. ``start()`` listens in the background; ``stop()`` drains and closes."""

    def __init__(self, cfg: GatewayConfig, ledger: Ledger, profile: HeaderProfile,
                 attr_key: bytes | None, audit: AuditLog) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.profile = profile
        self.attr_key = attr_key
        self.audit = audit
        g = cfg.gateway
        self.spool = Spool(g.spool_dir, g.spool_max_bytes, g.min_free_bytes,
                           [d.name for d in cfg.destination])
        self._ledger_lock = threading.Lock()
        self._draining = threading.Event()
        self._stats: dict[int, _AssocStats] = {}
        self._server: Any = None
        self._ae: Any = None
        self.on_queued: Callable[[], None] = lambda: None  # wakes the forwarders
        self._receipts: list[dict[str, object]] = []  # who sent which entry, flushed in bulk
        self._receipts_lock = threading.Lock()

    # -- association control ---------------------------------------------------------------
    def _on_open(self, event: Any) -> None:
        assoc = event.assoc
        sock = assoc.dul.socket.socket if assoc.dul.socket else None
        if sock is not None:
            # pynetdicom leaves Nagle on: 40 ms per message on loopback (PEERS.md)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        acse = assoc.acse
        original = acse._negotiate_as_acceptor

        def negotiate() -> None:
            rq = acse.requestor.primitive
            calling = str(rq.calling_ae_title).strip()
            called = str(rq.called_ae_title).strip()
            address, port = event.address[0], event.address[1]
            reason = None
            if self._draining.is_set():
                reason = ((0x02, 0x03, 0x01), "gateway shutting down")
            else:
                sender = self.cfg.sender_for(calling)
                if sender is None:
                    reason = ((0x01, 0x01, 0x03), "calling AE title not on the allow-list")
                elif not sender.allows(address):
                    reason = ((0x01, 0x01, 0x03), "calling AE title not allowed from this "
                              "address")
                elif called != self.cfg.gateway.ae_title:
                    reason = ((0x01, 0x01, 0x07), "called AE title is not the gateway's")
            if reason is not None:
                self.audit.write("association_rejected", calling_aet=calling,
                                 called_aet=called, address=address, port=port,
                                 reason=reason[1], result_source_diagnostic=list(reason[0]))
                acse.requestor.ae_title = calling
                acse.send_reject(*reason[0])
                from pynetdicom import evt

                evt.trigger(assoc, evt.EVT_REJECTED, {})
                assoc.kill()
                return
            self._stats[id(assoc)] = _AssocStats(calling, address, port)
            original()
            if not assoc.is_rejected:  # pynetdicom can still refuse (e.g. too many)
                self.audit.write("association_accepted", calling_aet=calling,
                                 called_aet=called, address=address, port=port)

        acse._negotiate_as_acceptor = negotiate

    def _on_close(self, event: Any) -> None:
        s = self._stats.pop(id(event.assoc), None)
        if s is None:
            return
        self.audit.write("association_closed", calling_aet=s.calling_aet, address=s.address,
                         port=s.port, stored=s.stored, failed=s.failed,
                         sop_classes=dict(s.sop_classes),
                         seconds=round(time.monotonic() - s.started, 3))

    # -- C-STORE ---------------------------------------------------------------------------
    def _on_store(self, event: Any) -> int:
        stats = self._stats.get(id(event.assoc))
        sop_class = str(event.request.AffectedSOPClassUID)
        status = self._store(event, stats.calling_aet if stats else "?",
                             stats.address if stats else "")
        if stats is not None:
            stats.sop_classes[sop_class] += 1
            if status == SUCCESS:
                stats.stored += 1
            else:
                stats.failed += 1
        return status

    def _store(self, event: Any, calling: str, address: str) -> int:
        data = event.encoded_dataset()
        why = self.spool.reserve(len(data))
        if why is not None:
            self.audit.write("store_refused", calling_aet=calling, reason=why, bytes=len(data))
            return OUT_OF_RESOURCES
        tmp: Path | None = None
        try:
            tmp = self.spool.write_tmp(data)
            try:
                fp = fingerprint_file(tmp, self.profile, self.attr_key)
            except DicomReadError as exc:
                self.audit.write("store_failed", calling_aet=calling,
                                 reason=f"not readable as DICOM: {exc}".replace(str(tmp),
                                                                                 "<received>"))
                return CANNOT_UNDERSTAND
            self._record(fp, calling, address)
            self.spool.commit(tmp, f"{time.time_ns()}-{fp.file_sha256.hex()[:16]}.dcm")
            tmp = None
            self.on_queued()
            return SUCCESS
        except Exception as exc:
            self.audit.write("store_failed", calling_aet=calling,
                             reason=f"{exc.__class__.__name__}: {exc}")
            return OUT_OF_RESOURCES
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
                self.spool.release(len(data))

    def _record(self, fp: Any, calling: str, address: str) -> None:
        """Append the instance to the ledger (idempotent; a changed one supersedes), and note
        who sent it (a receipt, for the inventory)."""
        leaf = self._append(fp, calling)
        with self._receipts_lock:
            self._receipts.append({"leaf_index": leaf, "calling_aet": calling,
                                   "address": address, "received_at": utc_now()})

    def flush_receipts(self) -> None:
        """Store the receipts gathered since the last flush (one transaction). They are
        inventory hints, not evidence: the few a crash can lose cost nothing but a hint."""
        with self._receipts_lock:
            batch, self._receipts = self._receipts, []
        if batch:
            with self.ledger.engine.begin() as conn:
                conn.execute(receipts.insert(), batch)

    def _append(self, fp: Any, calling: str) -> int:
        with self._ledger_lock:
            current = self.ledger.current([fp.sop_instance_uid]).get(fp.sop_instance_uid)
            attrs = pack_clinical_attrs(fp.clinical_attrs)
            if current is None:
                entry = LedgerEntry(fp, utc_now())
            else:
                status, _ = compare(current.entry.fingerprint,
                                         unpack_clinical_attrs(current.clinical_attrs), fp,
                                         Path("<received>"))
                if status is Status.INTACT:
                    return current.leaf_index
                entry = LedgerEntry(fp, utc_now(), kind="supersede",
                                    supersedes=current.leaf_index,
                                    reason=f"received again by the gateway from {calling} "
                                    f"with other content ({status.value})")
                self.audit.write("changed_instance", calling_aet=calling,
                                 supersedes_leaf=current.leaf_index, status=status.value)
            return self.ledger.append([PendingEntry(entry, None, attrs)])[0]

    # -- running ---------------------------------------------------------------------------
    def _ssl_context(self) -> ssl.SSLContext | None:
        t = self.cfg.tls
        if t is None:
            return None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # BCP 195
        try:
            ctx.load_cert_chain(str(t.certificate), str(t.private_key))
            if t.client_ca is not None:
                ctx.load_verify_locations(str(t.client_ca))
                ctx.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            raise PacsguardError(f"TLS certificate or key cannot be loaded: {exc}") from None
        return ctx

    def start(self) -> None:
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        g = self.cfg.gateway
        ae = AE(ae_title=g.ae_title)
        ae.require_called_aet = True
        # a backstop: should the per-association check ever not run, pynetdicom's own
        # calling AE title check still refuses strangers (addresses are checked above)
        ae.require_calling_aet = [s.ae_title for s in self.cfg.sender]
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None:
                ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.maximum_associations = 32
        handlers: list[Any] = [(evt.EVT_CONN_OPEN, self._on_open),
                               (evt.EVT_CONN_CLOSE, self._on_close),
                               (evt.EVT_C_STORE, self._on_store)]
        ctx = self._ssl_context()
        try:
            self._server = ae.start_server((g.listen_address, g.port), block=False,
                                           evt_handlers=handlers, ssl_context=ctx)
        except OSError as exc:
            raise PacsguardError(f"cannot listen on {g.listen_address}:{g.port} "
                                 f"({exc.strerror}); is another service using the port?"
                                 ) from None
        if ctx is not None:
            self._server.get_request = self._tls_accept(self._server, ctx)
        self._ae = ae
        self.audit.write("gateway_started", ae_title=g.ae_title, address=g.listen_address,
                         port=g.port, tls=self.cfg.tls is not None)

    @staticmethod
    def _tls_accept(server: Any, ctx: ssl.SSLContext) -> Callable[[], tuple[Any, Any]]:
        """pynetdicom completes the TLS handshake on the thread that accepts connections, so
        one client that connects and says nothing would stop every other from being
        accepted. Accept, and leave the handshake to the connection's own thread (OpenSSL
        performs it on the first read), with a timeout."""

        def get_request() -> tuple[Any, Any]:
            sock, address = server.socket.accept()
            sock.settimeout(30)
            return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), \
                address

        return get_request

    def stop(self, grace: float = 30.0) -> None:
        """Refuse new associations, let those in flight finish (up to ``grace`` s), close."""
        self._draining.set()
        deadline = time.monotonic() + grace
        while self._ae is not None and time.monotonic() < deadline:
            if not [a for a in self._ae.active_associations if a.is_established]:
                break
            time.sleep(0.05)
        if self._ae is not None:  # those still open after the grace period are aborted
            for a in list(self._ae.active_associations):
                with contextlib.suppress(Exception):
                    a.abort()
        if self._server is not None:
            self._server.shutdown()
        self.audit.write("gateway_stopped", pending=self.spool.used)
