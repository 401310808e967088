"""How an assessment talks to the one node it may talk to.

* :class:`Channel`: the node's address and port, plain TCP or TLS (with the tester's client
  certificate when given). Every connection opened here goes to the channel's address and
  nowhere else; every step has a timeout; ``TCP_NODELAY`` is set (dcmtk, Orthanc and
  pynetdicom leave Nagle on: 40 ms per message on loopback).
* :class:`Pacer`: the rate limit. Every connection, handshake, query and HTTP request waits
  its turn, so a run never exceeds ``--rate`` requests per second.
* Single association PDUs over a plain socket, built and read with the gateway's upper layer
  (:mod:`pacsguard.dicom.pdu`), so that the association policy can read the A-ASSOCIATE-RJ
  reason exactly, the fuzzer can send bytes of its own making (:mod:`pacsguard.assess.fuzz_cases`
  builds the malformed ones itself, on purpose), and the liveness check (one C-ECHO) costs a
  few milliseconds.
* :func:`dimse_association`: a pynetdicom association for the DIMSE checks (C-FIND, C-MOVE,
  C-GET, C-STORE), with the same channel, timeouts and ``TCP_NODELAY``.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pacsguard.assess.model import MAX_RATE, TlsClient
from pacsguard.dicom import pdu
from pacsguard.dicom.pdu import ContextAnswer, Proposal
from pacsguard.dicom.status import Pdu, rejection_text
from pacsguard.dicom.uids import EXPLICIT_LE, IMPLICIT_LE, VERIFICATION
from pacsguard.errors import AssociationError, Ending, PduTooLong, PduUndecodable

#: pacsguard's Implementation Class UID is the one pacsguard.dicom.uids names; the version
#: name says that the assessment is calling
IMPLEMENTATION_VERSION_NAME = "PACSGUARD_ASSESS"
MAX_ANSWER_PDU = 1 << 20  # an answer to an association request is far smaller


def random_aet(prefix: str = "PG") -> str:
    """An AE title no site has configured: the prefix and random hex, 10 characters."""
    return (prefix + secrets.token_hex(8).upper())[:10]


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


# -- PDUs --------------------------------------------------------------------------------------
def associate_rq(called: str, calling: str, proposals: Sequence[Proposal],
                 max_pdu: int = 65536) -> bytes:
    """An A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2); context IDs 1, 3, 5, ... in the order given
    (the gateway's upper layer builds it)."""
    return pdu.request_pdu(calling, called, proposals, max_pdu, IMPLEMENTATION_VERSION_NAME)


def read_pdu(sock: socket.socket, timeout: float,
             limit: int = MAX_ANSWER_PDU) -> tuple[int, bytes]:
    """The next PDU (type, body) within ``timeout`` seconds in all. Raises what
    :meth:`pacsguard.dicom.pdu.Connection.read_pdu` raises: :class:`TimeoutError`,
    :class:`~pacsguard.errors.Aborted` (reason ``closed``), a
    :class:`~pacsguard.errors.ProtocolError` for an unknown type or a PDU over ``limit``."""
    conn = pdu.Connection(sock)
    conn.deadline = time.monotonic() + timeout
    kind, body = conn.read_pdu(limit)
    return kind, bytes(body)


def unreadable(exc: AssociationError) -> str:
    """What was wrong with a PDU :func:`read_pdu` could not read, in the assessment's words."""
    if isinstance(exc, PduTooLong):
        return f"PDU of {exc.length:,} bytes is longer than {exc.limit:,}"
    return str(exc)


class Reply(StrEnum):
    """How a node answered an A-ASSOCIATE-RQ (or why it did not)."""

    ACCEPTED = "accepted"  # A-ASSOCIATE-AC
    REJECTED = "rejected"  # A-ASSOCIATE-RJ
    ABORTED = "aborted"  # A-ABORT
    CLOSED = "closed"  # the connection ended without an answer
    TIMEOUT = "timeout"
    REFUSED = "refused"  # the TCP connection was refused: nothing listens
    NOT_DICOM = "not-dicom"  # it answered, but not with an association PDU
    TLS_ERROR = "tls-error"


@dataclass(frozen=True)
class Answer:
    """How the node answered one A-ASSOCIATE-RQ."""

    outcome: Reply
    detail: str = ""
    result: int = 0
    source: int = 0
    reason: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    contexts: tuple[ContextAnswer, ...] = ()

    @property
    def dicom(self) -> bool:
        """The node answered as a DICOM node does (AC, RJ or A-ABORT)."""
        return self.outcome in (Reply.ACCEPTED, Reply.REJECTED, Reply.ABORTED)

    @property
    def rejection(self) -> tuple[int, int]:
        return self.source, self.reason

    def describe(self) -> str:
        if self.outcome == Reply.REJECTED:
            return f"rejected ({rejection_text(self.result, self.source, self.reason)})"
        return self.outcome + (f" ({self.detail})" if self.detail else "")


def _parse_ac(body: bytes, proposals: Sequence[Proposal]) -> Answer:
    try:
        ac = pdu.decode_ac(body, proposals)
    except PduUndecodable as exc:
        return Answer(Reply.ACCEPTED, f"A-ASSOCIATE-AC not decodable ({exc.error})")
    return Answer(Reply.ACCEPTED, "", implementation_class_uid=ac.implementation_class_uid,
                  implementation_version_name=ac.implementation_version_name,
                  contexts=ac.contexts)


def read_answer(sock: socket.socket, proposals: Sequence[Proposal], timeout: float) -> Answer:
    """Read what the node sends after an A-ASSOCIATE-RQ."""
    try:
        kind, body = read_pdu(sock, timeout)
    except TimeoutError:
        return Answer(Reply.TIMEOUT, f"no answer within {timeout:g} s")
    except ssl.SSLError as exc:
        return Answer(Reply.TLS_ERROR, tls_reason(exc))
    except AssociationError as exc:
        return Answer(Reply.CLOSED if exc.reason is Ending.CLOSED else Reply.NOT_DICOM,
                      unreadable(exc))
    except ConnectionError as exc:
        return Answer(Reply.CLOSED, str(exc) or exc.__class__.__name__)
    except OSError as exc:
        return Answer(Reply.CLOSED, exc.strerror or str(exc))
    if kind == Pdu.A_ASSOCIATE_AC:
        return _parse_ac(body, proposals)
    if kind == Pdu.A_ASSOCIATE_RJ and len(body) >= 4:
        return Answer(Reply.REJECTED, "", body[1], body[2], body[3])
    if kind == Pdu.A_ABORT:
        return Answer(Reply.ABORTED, "A-ABORT")
    return Answer(Reply.NOT_DICOM, f"PDU type 0x{kind:02X}")


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
        return Answer(Reply.REFUSED, "connection refused")
    except ssl.SSLError as exc:
        return Answer(Reply.TLS_ERROR, tls_reason(exc))
    except TimeoutError:
        return Answer(Reply.TIMEOUT, f"no connection within {timeout:g} s")
    except OSError as exc:
        return Answer(Reply.CLOSED, exc.strerror or str(exc))
    try:
        try:
            sock.sendall(associate_rq(called, calling, proposals))
        except ssl.SSLError as exc:
            return Answer(Reply.TLS_ERROR, tls_reason(exc))
        except OSError as exc:
            return Answer(Reply.CLOSED, exc.strerror or str(exc))
        answer = read_answer(sock, proposals, timeout)
        if answer.outcome == Reply.ACCEPTED:
            with contextlib.suppress(OSError, AssociationError, TimeoutError):
                sock.sendall(pdu.release_rq())
                read_pdu(sock, timeout)
        return answer
    finally:
        with contextlib.suppress(OSError):
            sock.close()


# -- C-ECHO (liveness) -------------------------------------------------------------------------
class LivenessState(StrEnum):
    """Did the node answer? (see :class:`Liveness`)"""

    ALIVE = "alive"
    REFUSED = "refused"
    HUNG = "hung"
    BROKEN = "broken"


@dataclass(frozen=True)
class Liveness:
    """Did the node answer? ``state``: alive (C-ECHO answered, or the association answered
    with AC/RJ), refused (nothing listens: crashed or stopped), hung (connection accepted but
    no answer in time), broken (it answered, but not as DICOM)."""

    state: LivenessState
    detail: str
    seconds: float

    @property
    def alive(self) -> bool:
        return self.state == LivenessState.ALIVE


def echo(channel: Channel, called: str, calling: str, timeout: float,
         pacer: Pacer | None = None) -> Liveness:
    """One association with C-ECHO over raw PDUs (PS3.7 §9.1.5): the liveness check. It waits
    its turn in ``pacer`` like any other connection."""
    if pacer is not None:
        pacer.wait()
    start = time.monotonic()

    def done(state: LivenessState, detail: str) -> Liveness:
        return Liveness(state, detail, time.monotonic() - start)

    try:
        sock = open_socket(channel, timeout)
    except ConnectionRefusedError:
        return done(LivenessState.REFUSED, "connection refused")
    except TimeoutError:
        return done(LivenessState.HUNG, f"no TCP connection within {timeout:g} s")
    except ssl.SSLError as exc:
        return done(LivenessState.BROKEN, f"TLS handshake failed ({tls_reason(exc)})")
    except OSError as exc:
        return done(LivenessState.REFUSED, exc.strerror or str(exc))
    proposals = [Proposal(VERIFICATION, (IMPLICIT_LE,))]
    try:
        try:
            sock.sendall(associate_rq(called, calling, proposals))
        except OSError as exc:
            return done(LivenessState.REFUSED,
                        f"connection dropped ({exc.__class__.__name__})")
        answer = read_answer(sock, proposals, timeout)
        if answer.outcome == Reply.REJECTED:
            return done(LivenessState.ALIVE, "association rejected (the node answers)")
        if answer.outcome == Reply.TIMEOUT:
            return done(LivenessState.HUNG, "no answer to A-ASSOCIATE-RQ within "
                        f"{timeout:g} s")
        if answer.outcome != Reply.ACCEPTED:
            return done(LivenessState.BROKEN, answer.describe())
        cx = next((c for c in answer.contexts if c.result == 0), None)
        if cx is None:
            _quietly_release(sock, timeout)
            return done(LivenessState.ALIVE, "association accepted (Verification not offered)")
        try:
            sock.sendall(pdu.pdv(cx.id, pdu.echo_rq(1, VERIFICATION), command=True))
            kind, body = read_pdu(sock, timeout)
        except TimeoutError:
            return done(LivenessState.HUNG, f"no C-ECHO-RSP within {timeout:g} s")
        except OSError as exc:
            return done(LivenessState.BROKEN, f"C-ECHO failed ({exc})")
        except AssociationError as exc:
            return done(LivenessState.BROKEN, f"C-ECHO failed ({unreadable(exc)})")
        if kind != Pdu.P_DATA_TF or len(body) < 6:
            return done(LivenessState.BROKEN, f"C-ECHO answered with PDU type 0x{kind:02X}")
        status = pdu.command_status(body[6:])
        _quietly_release(sock, timeout)
        return done(LivenessState.ALIVE, f"C-ECHO status 0x{status:04X}" if status is not None
                    else "C-ECHO answered")
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _quietly_release(sock: socket.socket, timeout: float) -> None:
    with contextlib.suppress(OSError, AssociationError, TimeoutError):
        sock.sendall(pdu.release_rq())
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
