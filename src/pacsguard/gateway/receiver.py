"""The gateway's receiving side: a DICOM Storage SCP that records before it acknowledges.

For each C-STORE (docs/gateway.md):
1. refuse (0xA700, Out of Resources) if the spool would pass its size limit or its disk's
   free-space floor;
2. the instance's bytes (our File Meta, then the data set exactly as received: no decode, no
   re-encode) are written to ``spool/tmp/`` and fsynced, file and folder, on an I/O thread,
   while the association's thread
3. fingerprints the same bytes and appends the instance to the ledger in one committed
   transaction (WAL fsync) that also looks up its newest entry: an instance recorded before
   with the same content appends nothing; with other content it is recorded as a superseding
   entry naming the one it replaces and the sender, never silently;
4. when both are durable, the file is linked into each destination's queue (``out/<name>/``,
   or ``held/`` when none is configured) and its ``tmp/`` name dropped;
5. only then is Success answered. Any failure on the way answers 0xA700 (the modality
   retries) and leaves no queued file.

Step 4 is not fsynced per instance: an acknowledged instance is durable in ``tmp/`` and in
the ledger, and start-up recovery (:meth:`Receiver.recover`) queues every ``tmp/`` file whose
content the ledger holds and deletes the rest (never acknowledged). The spool itself is
:mod:`pacsguard.gateway.spool`; the audit log :mod:`pacsguard.gateway.audit`.

Who may send: the calling AE title must be on the allow-list with the caller's IP address, and
the called AE title must be the gateway's; anything else is refused at association time with
A-ASSOCIATE-RJ (rejected-permanent, service-user, calling / called AE title not recognised).
Every association, accepted or refused, is written to the audit log (JSON lines): who, from
where, when, how many stored or failed, of which SOP classes; never patient data.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pacsguard.dates import utc_now
from pacsguard.dicom import part10, ul
from pacsguard.dicom.pdu import Message
from pacsguard.dicom.status import (
    CALLED_NOT_RECOGNISED,
    CALLING_NOT_RECOGNISED,
    LOCAL_LIMIT_EXCEEDED,
    TEMPORARY_CONGESTION,
    Dimse,
    RejectResult,
)
from pacsguard.dicom.tags import AFFECTED_SOP_CLASS_UID, AFFECTED_SOP_INSTANCE_UID
from pacsguard.dicom.uids import VERIFICATION, valid_uid
from pacsguard.errors import DicomReadError, GatewayError, GatewayFailure, TooLarge
from pacsguard.findings import Severity
from pacsguard.gateway.audit import AuditEvent, AuditLog
from pacsguard.gateway.config import GatewayConfig, OnThreat
from pacsguard.gateway.spool import Spool, fsync_dir, queued_name
from pacsguard.integrity.entry import EntryKind, LedgerEntry
from pacsguard.integrity.fingerprint import complete_decoded, fingerprint_bytes, fingerprint_file
from pacsguard.integrity.ledger import (
    Ledger,
    PendingEntry,
    StoredEntry,
    pack_clinical_attrs,
    unpack_clinical_attrs,
)
from pacsguard.integrity.profile import HeaderProfile
from pacsguard.integrity.status import Status, compare
from pacsguard.scan import scan_bytes
from pacsguard.store.schema import receipts


@dataclass
class _AssocStats:
    calling_aet: str
    address: str
    port: int
    started: float = field(default_factory=time.monotonic)
    stored: int = 0
    failed: int = 0
    sop_classes: Counter[str] = field(default_factory=Counter)


class Receiver:
    """The SCP. ``start()`` listens in the background; ``stop()`` drains and closes.

    One thread accepts connections; each association runs on its own thread
    (:class:`pacsguard.dicom.ul.Acceptor`), at most ``MAX_ASSOCIATIONS`` at once.
    """

    MAX_ASSOCIATIONS = 32  # established; more are refused with A-ASSOCIATE-RJ
    MAX_CONNECTIONS = 64  # open connections of any kind (associations being negotiated too)

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
        self._appender = ledger.appender()
        self._draining = threading.Event()
        self._stats: dict[int, _AssocStats] = {}
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._active: dict[threading.Thread, socket.socket] = {}
        self._active_lock = threading.Lock()
        self.on_queued: Callable[[], None] = lambda: None  # wakes the forwarders
        self._receipts: list[dict[str, object]] = []  # who sent which entry, flushed in bulk
        self._receipts_lock = threading.Lock()
        self._acceptor: ul.Acceptor | None = None
        self._scan_threshold = Severity.parse(cfg.scan.threshold)
        self._io = ThreadPoolExecutor(max_workers=4, thread_name_prefix="spool-io")
        # CPU seconds by part (thread CPU time): "association" is the whole association
        # thread, which includes "fingerprint" and "ledger"; "spool" runs on the I/O threads
        self.cpu_seconds: dict[str, float] = dict.fromkeys(
            ("association", "scan", "fingerprint", "ledger", "spool"), 0.0)
        self._cpu_lock = threading.Lock()

    # -- association control ---------------------------------------------------------------
    def _decide(self, rq: ul.AssociationRequest) -> ul.Rejection | None:
        """Who may send (PS3.8 §9.3.4 result/source/reason): the calling AE title from its
        allowed addresses, to the gateway's own called AE title; else A-ASSOCIATE-RJ."""
        reason: ul.Rejection | None = None
        transient, permanent = RejectResult.TRANSIENT, RejectResult.PERMANENT
        if self._draining.is_set():
            reason = ul.Rejection(transient, *TEMPORARY_CONGESTION, "gateway shutting down")
        elif len(self._stats) >= self.MAX_ASSOCIATIONS:
            reason = ul.Rejection(transient, *LOCAL_LIMIT_EXCEEDED,
                                  "too many associations at once")
        else:
            sender = self.cfg.sender_for(rq.calling_ae_title)
            if sender is None:
                reason = ul.Rejection(permanent, *CALLING_NOT_RECOGNISED,
                                      "calling AE title not on the allow-list")
            elif not sender.allows(rq.address):
                reason = ul.Rejection(permanent, *CALLING_NOT_RECOGNISED,
                                      "calling AE title not allowed from this address")
            elif rq.called_ae_title != self.cfg.gateway.ae_title:
                reason = ul.Rejection(permanent, *CALLED_NOT_RECOGNISED,
                                      "called AE title is not the gateway's")
        if reason is not None:
            self.audit.write(AuditEvent.ASSOCIATION_REJECTED, calling_aet=rq.calling_ae_title,
                             called_aet=rq.called_ae_title, address=rq.address, port=rq.port,
                             reason=reason.why,
                             result_source_diagnostic=[reason.result, reason.source,
                                                       reason.reason])
        return reason

    def _on_established(self, rq: ul.AssociationRequest) -> None:
        self._stats[id(rq)] = _AssocStats(rq.calling_ae_title, rq.address, rq.port)
        self.audit.write(AuditEvent.ASSOCIATION_ACCEPTED, calling_aet=rq.calling_ae_title,
                         called_aet=rq.called_ae_title, address=rq.address, port=rq.port)

    def _on_closed(self, rq: ul.AssociationRequest, how: str) -> None:
        s = self._stats.pop(id(rq), None)
        if s is None:
            return
        self.audit.write(AuditEvent.ASSOCIATION_CLOSED, calling_aet=s.calling_aet,
                         address=s.address, port=s.port, stored=s.stored, failed=s.failed,
                         sop_classes=dict(s.sop_classes), ended=how,
                         seconds=round(time.monotonic() - s.started, 3))

    def _on_failed(self, address: tuple[str, int], how: str) -> None:
        """A connection that never became an association request (a failed TLS handshake,
        a port scan, garbage): audited too, as security teams look for exactly these."""
        self.audit.write(AuditEvent.CONNECTION_FAILED, address=address[0], port=address[1],
                         reason=how.removeprefix("aborted: "))

    def _on_too_large(self, rq: ul.AssociationRequest, exc: TooLarge) -> None:
        """A C-STORE whose data set passed ``max_instance_bytes``: the upper layer aborted the
        association; the refused instance is named (its command announced it)."""
        instance = {"sop_instance_uid": exc.sop_instance_uid} \
            if valid_uid(exc.sop_instance_uid) else {}
        stats = self._stats.get(id(rq))
        if stats is not None:
            stats.failed += 1
        self.audit.write(AuditEvent.STORE_REFUSED, calling_aet=rq.calling_ae_title, **instance,
                         reason=f"{exc}: the association was aborted (gateway."
                                "max_instance_bytes)")

    # -- C-STORE ---------------------------------------------------------------------------
    def _on_store(self, rq: ul.AssociationRequest, msg: Message) -> int:
        stats = self._stats.get(id(rq))
        sop_class = msg.ui(AFFECTED_SOP_CLASS_UID)
        status = self._store(rq, msg)
        if stats is not None:
            stats.sop_classes[sop_class] += 1
            if status == Dimse.SUCCESS:
                stats.stored += 1
            else:
                stats.failed += 1
        return status

    def _store(self, rq: ul.AssociationRequest, msg: Message) -> int:
        calling = rq.calling_ae_title
        assert msg.data_set is not None
        # every event about one instance names it (a UID is not patient data); one that is
        # not a valid UID (PS3.5 §9: digits and dots) could hold any text and is left out
        sop_class, sop_instance = msg.ui(AFFECTED_SOP_CLASS_UID), msg.ui(AFFECTED_SOP_INSTANCE_UID)
        instance = {"sop_instance_uid": sop_instance} if valid_uid(sop_instance) else {}
        bad = [name for uid, name in ((sop_class, "SOP Class UID"),
                                      (sop_instance, "SOP Instance UID"))
               if not valid_uid(uid)]
        if bad or not valid_uid(msg.context.transfer_syntax):
            self.audit.write(AuditEvent.STORE_FAILED, calling_aet=calling, **instance,
                             reason=f"the C-STORE request's {' and '.join(bad) or 'UIDs'} "
                                    f"{'is' if len(bad) < 2 else 'are'} not a valid UID "
                                    "(PS3.5 §9)")
            return Dimse.CANNOT_UNDERSTAND
        # PS3.10 file: our File Meta, then the data set exactly as received (no re-encoding)
        data = part10.file_meta(sop_class, sop_instance, msg.context.transfer_syntax,
                            calling) + msg.data_set
        why = self.spool.reserve(len(data))
        if why is not None:
            self.audit.write(AuditEvent.STORE_REFUSED, calling_aet=calling, **instance, reason=why,
                             bytes=len(data))
            return Dimse.OUT_OF_RESOURCES
        threat = self._threat(data)
        if threat and self.cfg.scan.on_threat is OnThreat.REJECT:
            return self._reject(data, threat, calling, instance)
        # the spool write and its fsyncs run on an I/O thread while this one fingerprints and
        # commits to the ledger: the two waits for the disk overlap (docs/gateway.md)
        written = self._io.submit(self._write_tmp, data)
        if self.spool.ready < Spool.READY // 2:
            self._io.submit(self._prepare)
        tmp: Path | None = None
        queued = False
        try:
            try:
                with self._timed("fingerprint"):
                    fp = fingerprint_bytes(data, "<received>", self.profile, self.attr_key)
                    # decoded digests of compressed images, as record makes them: a later
                    # lossless transcode by the PACS then verifies intact (docs/fingerprint.md)
                    fp, _ = complete_decoded(fp, data, self.profile)
            except DicomReadError as exc:
                self.audit.write(AuditEvent.STORE_FAILED, calling_aet=calling, **instance,
                                 reason=f"not readable as DICOM: {exc}")
                return Dimse.CANNOT_UNDERSTAND
            with self._timed("ledger"):
                self._record(fp, data, calling, rq.address)
            tmp = written.result()
            if threat:  # on_threat = "quarantine": recorded, kept aside, never forwarded
                self.spool.quarantine(tmp, queued_name(tmp))
                self.spool.settle(len(data))
                self.audit.write(AuditEvent.QUARANTINED, calling_aet=calling, **instance,
                                 findings=threat, bytes=len(data))
                queued = True
                return Dimse.SUCCESS
            self.spool.commit(tmp, queued_name(tmp))
            self.spool.settle(len(data))
            queued = True
            self.on_queued()
            return Dimse.SUCCESS
        except Exception as exc:
            self.audit.write(AuditEvent.STORE_FAILED, calling_aet=calling, **instance,
                             reason=f"{exc.__class__.__name__}: {exc}")
            return Dimse.OUT_OF_RESOURCES
        finally:
            if not queued:
                self._discard(written, tmp, len(data))

    def _threat(self, data: bytes) -> list[str]:
        """The ids of the scan findings at or above the configured threshold (none when
        scanning is off). Reads headers only; tens of microseconds (docs/scan.md)."""
        if self.cfg.scan.on_threat is OnThreat.OFF:
            return []
        with self._timed("scan"):
            result = scan_bytes(data, "<received>")
        return sorted({f.id for f in result.findings if f.severity >= self._scan_threshold})

    def _reject(self, data: bytes, threat: list[str], calling: str,
                instance: dict[str, str]) -> int:
        """Refuse a weaponised instance: a failure status (0xC000, so the modality shows an
        error rather than retrying), nothing recorded or forwarded; the bytes are kept in
        ``quarantine/`` for a person to examine."""
        try:
            tmp = self.spool.write_tmp(data)
            kept = queued_name(tmp).removesuffix(".dcm") + ".rejected"
            self.spool.quarantine(tmp, kept)
            self.spool.settle(len(data))
        except OSError as exc:
            self.spool.release(len(data))
            self.audit.write(AuditEvent.STORE_FAILED, calling_aet=calling, **instance,
                             reason=f"{exc.__class__.__name__}: {exc}")
            return Dimse.OUT_OF_RESOURCES
        self.audit.write(AuditEvent.STORE_REJECTED, calling_aet=calling, **instance,
                         findings=threat, bytes=len(data), file=kept,
                         reason="the scan found weaponised content")
        return Dimse.CANNOT_UNDERSTAND

    def _write_tmp(self, data: bytes) -> Path:
        with self._timed("spool"):
            return self.spool.write_tmp(data)

    def _prepare(self) -> None:
        with self._timed("spool"):
            self.spool.prepare()

    @contextlib.contextmanager
    def _timed(self, part: str) -> Iterator[None]:
        """Add this thread's CPU time inside the block to ``cpu_seconds[part]``."""
        t = time.thread_time()
        try:
            yield
        finally:
            seconds = time.thread_time() - t
            with self._cpu_lock:
                self.cpu_seconds[part] += seconds

    def _discard(self, written: Future[Path], tmp: Path | None, size: int) -> None:
        """A store that failed: remove its spool file (once written) and its bytes."""
        if tmp is None:
            with contextlib.suppress(Exception):
                tmp = written.result()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        self.spool.release(size)

    def _record(self, fp: Any, data: bytes, calling: str, address: str) -> None:
        """Append the instance to the ledger (idempotent; a changed one supersedes), and note
        who sent it (a receipt, for the inventory)."""
        leaf = self._append(fp, data, calling)
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

    def _append(self, fp: Any, data: bytes, calling: str) -> int:
        def decide(current: StoredEntry | None) -> PendingEntry | None:
            attrs = pack_clinical_attrs(fp.clinical_attrs)
            if current is None:
                return PendingEntry(LedgerEntry(fp, utc_now()), None, attrs)
            status, _ = compare(current.entry.fingerprint,
                                unpack_clinical_attrs(current.clinical_attrs), fp, data,
                                self.profile)
            if status is Status.INTACT:
                return None
            self.audit.write(AuditEvent.CHANGED_INSTANCE, calling_aet=calling,
                             sop_instance_uid=fp.sop_instance_uid,
                             supersedes_leaf=current.leaf_index, status=status.value)
            return PendingEntry(LedgerEntry(fp, utc_now(), kind=EntryKind.SUPERSEDE,
                                            supersedes=current.leaf_index,
                                            reason=f"received again by the gateway from "
                                            f"{calling} with other content ({status.value})"),
                                None, attrs)

        with self._ledger_lock:
            return self._appender.record(fp.sop_instance_uid, decide)

    def recover(self) -> tuple[int, int]:
        """Before listening: finish what a crash interrupted in ``tmp/``. A file that the
        ledger's newest entry for its instance holds — compared as the store path compares
        (``intact``: the same content, even from another sender or losslessly transcoded, for
        which no new entry was appended) — may have been acknowledged: it is queued. Anything
        else was never acknowledged (the crash came before its ledger commit or before its
        bytes were whole) and is deleted. Returns (queued, deleted)."""
        queued = deleted = 0
        for path in self.spool.leftovers():
            try:
                fp = fingerprint_file(path, self.profile, self.attr_key)
                current = self.ledger.current([fp.sop_instance_uid]).get(fp.sop_instance_uid)
                recorded = current is not None and compare(
                    current.entry.fingerprint, unpack_clinical_attrs(current.clinical_attrs),
                    fp, path, self.profile)[0] is Status.INTACT
            except DicomReadError:
                recorded = False
            if recorded and self._threat(path.read_bytes()):
                self.spool.quarantine(path, queued_name(path))  # never forwarded
            elif recorded:
                self.spool.commit(path, queued_name(path), durable=True)
                queued += 1
            else:
                path.unlink(missing_ok=True)
                deleted += 1
        if queued or deleted:
            fsync_dir(self.spool.tmp)
            self.spool.recount()
            self.audit.write(AuditEvent.SPOOL_RECOVERED, queued=queued, deleted=deleted)
        return queued, deleted

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
            raise GatewayError(f"TLS certificate or key cannot be loaded: {exc}",
                               reason=GatewayFailure.TLS_CREDENTIALS) from None
        return ctx

    def start(self) -> None:
        from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts
        from pynetdicom.presentation import build_context

        g = self.cfg.gateway
        supported = [build_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
                     for cx in AllStoragePresentationContexts if cx.abstract_syntax]
        supported.append(build_context(VERIFICATION, ALL_TRANSFER_SYNTAXES))
        self._acceptor = ul.Acceptor(g.ae_title, supported, self._decide, self._on_store,
                                     self._on_established, self._on_closed, self._on_failed,
                                     self._on_too_large, max_message=g.max_instance_bytes)
        ctx = self._ssl_context()
        self.spool.prepare()
        try:
            listener = socket.create_server((g.listen_address, g.port), backlog=64,
                                            family=_family(g.listen_address))
        except OSError as exc:
            raise GatewayError(f"cannot listen on {g.listen_address}:{g.port} "
                               f"({exc.strerror}); is another service using the port?",
                               reason=GatewayFailure.CANNOT_LISTEN) from None
        listener.settimeout(0.5)
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, args=(listener, ctx),
                                               name="gateway-accept", daemon=True)
        self._accept_thread.start()
        self.audit.write(AuditEvent.GATEWAY_STARTED, ae_title=g.ae_title, address=g.listen_address,
                         port=g.port, tls=self.cfg.tls is not None)

    def _accept_loop(self, listener: socket.socket, ctx: ssl.SSLContext | None) -> None:
        """Accept connections until stopped. The TLS handshake runs on the association's
        own thread (under its ARTIM timeout), so a client that connects and says nothing
        cannot hold up anyone else."""
        while not self._draining.is_set():
            try:
                sock, address = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._draining.is_set():
                    return
                time.sleep(0.05)  # EMFILE and friends: do not spin
                continue
            with self._active_lock:
                crowded = len(self._active) >= self.MAX_CONNECTIONS
            if crowded:  # any host that reaches the port could otherwise exhaust threads
                self.audit.write(AuditEvent.CONNECTION_FAILED, address=address[0], port=address[1],
                                 reason=f"more than {self.MAX_CONNECTIONS} connections open")
                sock.close()
                continue
            try:
                sock.settimeout(30)
                conn: socket.socket = sock if ctx is None else ctx.wrap_socket(
                    sock, server_side=True, do_handshake_on_connect=False)
            except (OSError, ssl.SSLError):
                sock.close()
                continue
            t = threading.Thread(target=self._serve, args=(conn, address),
                                 name=f"assoc-{address[0]}:{address[1]}", daemon=True)
            with self._active_lock:
                self._active[t] = conn
            t.start()

    def _serve(self, conn: socket.socket, address: tuple[str, int]) -> None:
        try:
            assert self._acceptor is not None
            with self._timed("association"):
                self._acceptor.serve(conn, (address[0], address[1]))
        except Exception as exc:  # never expected: the acceptor handles its own failures
            with contextlib.suppress(Exception):
                self.audit.write(AuditEvent.ASSOCIATION_ERROR, address=address[0],
                                 reason=f"{exc.__class__.__name__}: {exc}")
        finally:
            with self._active_lock:
                self._active.pop(threading.current_thread(), None)

    def stop(self, grace: float = 30.0) -> None:
        """Refuse new associations, let those in flight finish (up to ``grace`` s), close."""
        self._draining.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with self._active_lock:
                if not self._active:
                    break
            time.sleep(0.05)
        with self._active_lock:  # those still open after the grace period are cut
            late = list(self._active.items())
        for _, conn in late:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for t, _ in late:
            t.join(timeout=5)
        self._io.shutdown(wait=True)
        self.spool.unprepare()
        with self._ledger_lock:
            self._appender.close()


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET
