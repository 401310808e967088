"""How an assessment talks to the one node it may talk to.

* :class:`Channel`: the node's address and port, plain TCP or TLS (with the tester's client
  certificate when given). Every connection opened here goes to the channel's address and
  nowhere else; every step has a timeout; ``TCP_NODELAY`` is set (dcmtk, Orthanc and
  pynetdicom leave Nagle on: 40 ms per message on loopback).
* :class:`Pacer`: the rate limit. Every connection, handshake, query and HTTP request waits
  its turn, so a run never exceeds ``--rate`` requests per second.
* A small raw Upper Layer client (PS3.8 §9.3): the association PDUs are built with
  pynetdicom's PDU classes and sent over a plain socket, so that the association policy can
  read the A-ASSOCIATE-RJ reason exactly, the fuzzer can mutate the bytes, and the liveness
  check (one C-ECHO) costs a few milliseconds.
* :func:`dimse_association`: a pynetdicom association for the DIMSE checks (C-FIND, C-MOVE,
  C-GET, C-STORE), with the same channel, timeouts and ``TCP_NODELAY``.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pacsguard.assess.model import MAX_RATE, TlsClient
from pacsguard.dicom import ul
from pacsguard.dicom.ul import A_ABORT as A_ABORT  # PDU types, PS3.8 Table 9-11
from pacsguard.dicom.ul import A_ASSOCIATE_AC as A_ASSOCIATE_AC
from pacsguard.dicom.ul import A_ASSOCIATE_RJ as A_ASSOCIATE_RJ
from pacsguard.dicom.ul import A_ASSOCIATE_RQ as A_ASSOCIATE_RQ
from pacsguard.dicom.ul import A_RELEASE_RP as A_RELEASE_RP
from pacsguard.dicom.ul import A_RELEASE_RQ as A_RELEASE_RQ
from pacsguard.dicom.ul import P_DATA_TF as P_DATA_TF

PDU_TYPES = frozenset(range(1, 8))

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
VERIFICATION = "1.2.840.10008.1.1"
#: pacsguard's Implementation Class UID is the one pacsguard.dicom.ul announces; the version
#: name says that the assessment is calling
IMPLEMENTATION_VERSION_NAME = "PACSGUARD_ASSESS"
MAX_ANSWER_PDU = 1 << 20  # an answer to an association request is far smaller

# A-ASSOCIATE-RJ (source, reason), PS3.8 §9.3.4 Table 9-21
CALLING_NOT_RECOGNISED = (1, 3)
CALLED_NOT_RECOGNISED = (1, 7)
_HEADER = struct.Struct(">BxL")


def random_aet(prefix: str = "PG") -> str:
    """An AE title no site has configured: the prefix and random hex, 10 characters."""
    return (prefix + secrets.token_hex(8).upper())[:10]


reject_text = ul.rejection_text  # "permanent, calling AE title not recognised"


class Pacer:
    """At most ``rate`` requests per second, across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / max(min(rate, MAX_RATE), 0.01)
        self._next = 0.0
        self._lock = threading.Lock()
        self.requests = 0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
            self.requests += 1
        if delay > 0:
            time.sleep(delay)


@dataclass(frozen=True)
class Channel:
    """Where DICOM goes: the one named address and port, plain or over TLS."""

    host: str  # as named (for TLS server names and certificate checks)
    address: str
    port: int
    tls: bool = False
    client: TlsClient = field(default_factory=TlsClient)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that looks rather than trusts: the certificate is examined by
        the transport checks, not verified here; the tester's client certificate is
        presented when one was given."""
        if not self.tls:
            return None
        return looking_context(self.client)

    def describe(self) -> str:
        return f"{self.address}:{self.port} over {'TLS' if self.tls else 'plain TCP'}"


def looking_context(client: TlsClient | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if client is not None and client.certificate is not None and client.key is not None:
        ctx.load_cert_chain(str(client.certificate), str(client.key))
    return ctx


def nodelay(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def open_socket(channel: Channel, timeout: float) -> socket.socket:
    """A connected socket to the channel (TLS handshake done); raises OSError/SSLError."""
    sock = socket.create_connection((channel.address, channel.port), timeout=timeout)
    nodelay(sock)
    ctx = channel.ssl_context()
    if ctx is None:
        return sock
    try:
        return ctx.wrap_socket(sock, server_hostname=None)
    except BaseException:
        sock.close()
        raise


@contextlib.contextmanager
def connected(channel: Channel, timeout: float) -> Iterator[socket.socket]:
    sock = open_socket(channel, timeout)
    try:
        yield sock
    finally:
        with contextlib.suppress(OSError):
            sock.close()


# -- PDUs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """A presentation context to propose (PS3.8 §9.3.2.2)."""

    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...] = (EXPLICIT_LE, IMPLICIT_LE)


def associate_rq(called: str, calling: str, proposals: Sequence[Proposal],
                 max_pdu: int = 65536) -> bytes:
    """An A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2); context IDs 1, 3, 5, ... in the order given
    (the gateway's upper layer builds it)."""
    return ul.request_pdu(calling, called, [ul.Proposal(p.abstract_syntax, p.transfer_syntaxes)
                                            for p in proposals], max_pdu,
                          IMPLEMENTATION_VERSION_NAME)


def pdu(kind: int, body: bytes) -> bytes:
    return _HEADER.pack(kind, len(body)) + body


def pdv(context_id: int, payload: bytes, command: bool, last: bool = True) -> bytes:
    """One P-DATA-TF PDU holding one PDV (PS3.8 §9.3.5, Annex E)."""
    ctrl = (0x01 if command else 0x00) | (0x02 if last else 0x00)
    return pdu(P_DATA_TF, struct.pack(">LBB", len(payload) + 2, context_id, ctrl) + payload)


def release_rq() -> bytes:
    return pdu(A_RELEASE_RQ, bytes(4))


def abort_pdu() -> bytes:
    return pdu(A_ABORT, bytes(4))


class PduError(Exception):
    """What came back was not a PDU we can read (closed, too long, unknown type)."""


def recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(left)
        chunk = sock.recv(min(n - len(buf), 65536))
        if not chunk:
            raise PduError("the peer closed the connection")
        buf += chunk
    return bytes(buf)


def read_pdu(sock: socket.socket, timeout: float,
             limit: int = MAX_ANSWER_PDU) -> tuple[int, bytes]:
    """The next PDU (type, body) within ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    kind, length = _HEADER.unpack(recv_exact(sock, 6, deadline))
    if kind not in PDU_TYPES:
        raise PduError(f"unknown PDU type 0x{kind:02X}")
    if length > limit:
        raise PduError(f"PDU of {length:,} bytes is longer than {limit:,}")
    return kind, recv_exact(sock, length, deadline)


@dataclass(frozen=True)
class ContextResult:
    """One presentation context of an A-ASSOCIATE-AC (PS3.8 §9.3.3.2)."""

    id: int
    abstract_syntax: str
    result: int  # 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax, 4 transfer
    transfer_syntax: str


@dataclass(frozen=True)
class Answer:
    """How the node answered one A-ASSOCIATE-RQ."""

    outcome: str  # accepted, rejected, aborted, closed, timeout, refused, not-dicom, tls-error
    detail: str = ""
    result: int = 0
    source: int = 0
    reason: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    contexts: tuple[ContextResult, ...] = ()

    @property
    def dicom(self) -> bool:
        """The node answered as a DICOM node does (AC, RJ or A-ABORT)."""
        return self.outcome in ("accepted", "rejected", "aborted")

    @property
    def rejection(self) -> tuple[int, int]:
        return self.source, self.reason

    def describe(self) -> str:
        if self.outcome == "rejected":
            return f"rejected ({reject_text(self.result, self.source, self.reason)})"
        return self.outcome + (f" ({self.detail})" if self.detail else "")


def _parse_ac(body: bytes, proposals: Sequence[Proposal]) -> Answer:
    from pynetdicom.pdu import A_ASSOCIATE_AC as AcPdu
    from pynetdicom.pdu_primitives import (
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
    )

    ac = AcPdu()
    try:
        ac.decode(pdu(A_ASSOCIATE_AC, body))
        primitive = ac.to_primitive()
    except Exception as exc:  # whatever malformed bytes make pynetdicom raise
        return Answer("accepted", f"A-ASSOCIATE-AC not decodable ({exc.__class__.__name__})")
    uid = name = ""
    for item in primitive.user_information:
        if isinstance(item, ImplementationClassUIDNotification):
            uid = str(item.implementation_class_uid or "")
        elif isinstance(item, ImplementationVersionNameNotification):
            name = str(item.implementation_version_name or "")
    results = []
    for cx in primitive.presentation_context_definition_results_list:
        cid = int(cx.context_id or 0)
        k = (cid - 1) // 2
        abstract = proposals[k].abstract_syntax if cid % 2 and 0 <= k < len(proposals) else ""
        ts = str(cx.transfer_syntax[0]) if cx.transfer_syntax else ""
        results.append(ContextResult(cid, abstract, int(cx.result or 0), ts))
    return Answer("accepted", "", implementation_class_uid=uid,
                  implementation_version_name=name, contexts=tuple(results))


def read_answer(sock: socket.socket, proposals: Sequence[Proposal], timeout: float) -> Answer:
    """Read what the node sends after an A-ASSOCIATE-RQ."""
    try:
        kind, body = read_pdu(sock, timeout)
    except TimeoutError:
        return Answer("timeout", f"no answer within {timeout:g} s")
    except ssl.SSLError as exc:
        return Answer("tls-error", tls_reason(exc))
    except PduError as exc:
        return Answer("closed" if "closed" in str(exc) else "not-dicom", str(exc))
    except ConnectionError as exc:
        return Answer("closed", str(exc) or exc.__class__.__name__)
    except OSError as exc:
        return Answer("closed", exc.strerror or str(exc))
    if kind == A_ASSOCIATE_AC:
        return _parse_ac(body, proposals)
    if kind == A_ASSOCIATE_RJ and len(body) >= 4:
        return Answer("rejected", "", body[1], body[2], body[3])
    if kind == A_ABORT:
        return Answer("aborted", "A-ABORT")
    return Answer("not-dicom", f"PDU type 0x{kind:02X}")


def tls_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc.__class__.__name__)


def negotiate(channel: Channel, called: str, calling: str, proposals: Sequence[Proposal],
              timeout: float, pacer: Pacer | None = None) -> Answer:
    """One association request, answered or not; an accepted association is released."""
    if pacer is not None:
        pacer.wait()
    try:
        sock = open_socket(channel, timeout)
    except ConnectionRefusedError:
        return Answer("refused", "connection refused")
    except ssl.SSLError as exc:
        return Answer("tls-error", tls_reason(exc))
    except TimeoutError:
        return Answer("timeout", f"no connection within {timeout:g} s")
    except OSError as exc:
        return Answer("closed", exc.strerror or str(exc))
    try:
        try:
            sock.sendall(associate_rq(called, calling, proposals))
        except ssl.SSLError as exc:
            return Answer("tls-error", tls_reason(exc))
        except OSError as exc:
            return Answer("closed", exc.strerror or str(exc))
        answer = read_answer(sock, proposals, timeout)
        if answer.outcome == "accepted":
            with contextlib.suppress(OSError, PduError, TimeoutError):
                sock.sendall(release_rq())
                read_pdu(sock, timeout)
        return answer
    finally:
        with contextlib.suppress(OSError):
            sock.close()


# -- C-ECHO (liveness) -------------------------------------------------------------------------
def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHL", 0, element, len(value)) + value


def command_set(elements: Sequence[tuple[int, bytes]]) -> bytes:
    """A DIMSE command set, Implicit VR Little Endian, group length first (PS3.7 §6.3.1)."""
    body = b"".join(_element(e, v) for e, v in sorted(elements))
    return _element(0x0000, struct.pack("<L", len(body))) + body


def ui(uid: str) -> bytes:
    b = uid.encode("ascii")
    return b + b"\0" if len(b) % 2 else b


def us(value: int) -> bytes:
    return struct.pack("<H", value)


def echo_rq(message_id: int = 1) -> bytes:
    """C-ECHO-RQ command set, PS3.7 §9.3.5.1."""
    return command_set([(0x0002, ui(VERIFICATION)), (0x0100, us(0x0030)),
                        (0x0110, us(message_id)), (0x0800, us(0x0101))])


def command_status(payload: bytes) -> int | None:
    """Status (0000,0900) of a command set, or None."""
    i = 0
    while i + 8 <= len(payload):
        group, element, length = struct.unpack_from("<HHL", payload, i)
        i += 8
        if group == 0 and element == 0x0900 and length == 2:
            return int.from_bytes(payload[i:i + 2], "little")
        i += length
    return None


@dataclass(frozen=True)
class Liveness:
    """Did the node answer? ``state``: alive (C-ECHO answered, or the association answered
    with AC/RJ), refused (nothing listens: crashed or stopped), hung (connection accepted but
    no answer in time), broken (it answered, but not as DICOM)."""

    state: str
    detail: str
    seconds: float

    @property
    def alive(self) -> bool:
        return self.state == "alive"


def echo(channel: Channel, called: str, calling: str, timeout: float,
         pacer: Pacer | None = None) -> Liveness:
    """One association with C-ECHO over raw PDUs (PS3.7 §9.1.5): the liveness check. It waits
    its turn in ``pacer`` like any other connection."""
    if pacer is not None:
        pacer.wait()
    start = time.monotonic()

    def done(state: str, detail: str) -> Liveness:
        return Liveness(state, detail, time.monotonic() - start)

    try:
        sock = open_socket(channel, timeout)
    except ConnectionRefusedError:
        return done("refused", "connection refused")
    except TimeoutError:
        return done("hung", f"no TCP connection within {timeout:g} s")
    except ssl.SSLError as exc:
        return done("broken", f"TLS handshake failed ({tls_reason(exc)})")
    except OSError as exc:
        return done("refused", exc.strerror or str(exc))
    proposals = [Proposal(VERIFICATION, (IMPLICIT_LE,))]
    try:
        try:
            sock.sendall(associate_rq(called, calling, proposals))
        except OSError as exc:
            return done("refused", f"connection dropped ({exc.__class__.__name__})")
        answer = read_answer(sock, proposals, timeout)
        if answer.outcome == "rejected":
            return done("alive", "association rejected (the node answers)")
        if answer.outcome == "timeout":
            return done("hung", "no answer to A-ASSOCIATE-RQ within "
                        f"{timeout:g} s")
        if answer.outcome != "accepted":
            return done("broken", answer.describe())
        cx = next((c for c in answer.contexts if c.result == 0), None)
        if cx is None:
            _quietly_release(sock, timeout)
            return done("alive", "association accepted (Verification not offered)")
        try:
            sock.sendall(pdv(cx.id, echo_rq(), command=True))
            kind, body = read_pdu(sock, timeout)
        except TimeoutError:
            return done("hung", f"no C-ECHO-RSP within {timeout:g} s")
        except (OSError, PduError) as exc:
            return done("broken", f"C-ECHO failed ({exc})")
        if kind != P_DATA_TF or len(body) < 6:
            return done("broken", f"C-ECHO answered with PDU type 0x{kind:02X}")
        status = command_status(body[6:])
        _quietly_release(sock, timeout)
        return done("alive", f"C-ECHO status 0x{status:04X}" if status is not None
                    else "C-ECHO answered")
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _quietly_release(sock: socket.socket, timeout: float) -> None:
    with contextlib.suppress(OSError, PduError, TimeoutError):
        sock.sendall(release_rq())
        read_pdu(sock, timeout)


# -- DIMSE with pynetdicom ---------------------------------------------------------------------
@contextlib.contextmanager
def dimse_association(channel: Channel, called: str, calling: str,
                      abstract_syntaxes: Sequence[str], timeout: float,
                      pacer: Pacer | None = None) -> Iterator[Any]:
    """A pynetdicom association proposing ``abstract_syntaxes``; yields it established, or
    None when the node would not associate. Released (or aborted) on exit."""
    from pynetdicom import AE

    if pacer is not None:
        pacer.wait()
    ae = AE(ae_title=calling)
    for uid in abstract_syntaxes:
        ae.add_requested_context(uid, [EXPLICIT_LE, IMPLICIT_LE])
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    ctx = channel.ssl_context()
    try:
        assoc = ae.associate(channel.address, channel.port, ae_title=called,
                             # no SNI: pynetdicom hands None on to wrap_socket
                             tls_args=(ctx, None) if ctx is not None else None,  # type: ignore[arg-type]
                             )
    except (OSError, ssl.SSLError):
        yield None
        return
    if not assoc.is_established:
        yield None
        return
    sock = assoc.dul.socket.socket if assoc.dul.socket else None
    if sock is not None:
        nodelay(sock)
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()
        ae.shutdown()
