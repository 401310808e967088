"""A small, fast DICOM Upper Layer (PS3.8): the two roles of an association, as the gateway
plays them.

Hand-written because measured speed demands it (issue #4 §9, docs/gateway.md "Upper layer"):
pynetdicom 3.0.4 runs every association on two threads that poll each other with 1 ms sleeps
and decodes every PDU and command set through general-purpose classes. Measured on the 2-core
CI machine, a bare pynetdicom Storage SCP that only keeps the encoded bytes acknowledged 214
instances/s from dcmtk's storescu at 3.6 ms of CPU each, below the gateway's 300/s target
before any fingerprinting, spooling or ledger work; a pynetdicom SCU forwarding to Orthanc
spent about 4 ms of CPU per instance. This module reads whole PDUs with blocking socket calls
on one thread per association and handles P-DATA-TF, C-STORE and C-ECHO itself; the bytes on
the wire (PDUs, PDV items, command sets, the association PDUs) are :mod:`pacsguard.dicom.pdu`'s.

What stays with pynetdicom: the association PDUs (A-ASSOCIATE-RQ/-AC encode and decode,
PS3.8 §9.3.2-9.3.4) and presentation-context negotiation (PS3.8 §9.3.2.2, PS3.7 Annex D.3.3),
which run once per association and are where the standard is most intricate.

What this implements (and nothing more):

* :class:`Acceptor`, the state machine of PS3.8 §9.2 in the subset a Storage SCP needs: a PDU
  longer than we announced as our maximum, an unknown type, or one not allowed in the current
  state ends the association with A-ABORT (source: service-provider), PS3.8 §9.3.8; C-ECHO
  (PS3.7 §9.3.5) and C-STORE (§9.3.1) are answered, any other request on an accepted context
  with status 0x0211 (unrecognised operation, PS3.7 Annex C);
* :class:`Requestor`, for sending C-STORE and C-ECHO;
* A-RELEASE-RQ/-RP (PS3.8 §9.3.6-7) and A-ABORT (§9.3.8);
* timeouts: ARTIM while waiting for the A-ASSOCIATE-RQ, an idle timeout in the association,
  and a response timeout for the requestor.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pacsguard.dicom.pdu import (
    DEFAULT_MAX_PDU,
    Assembler,
    AssociateAc,
    Connection,
    Context,
    Message,
    Proposal,
    accept_pdu,
    decode_ac,
    decode_rq,
    echo_rq,
    implementation,
    proposal_of,
    reject_pdu,
    release_rq,
    request_pdu,
    response,
    store_rq,
)
from pacsguard.dicom.status import (
    CONTEXT_RESULTS,
    AbortReason,
    Command,
    ContextResult,
    Dimse,
    Pdu,
    rejection_text,
)
from pacsguard.dicom.uids import transfer_syntax_name
from pacsguard.errors import (
    Aborted,
    AssociationError,
    AssociationRejected,
    Ending,
    NoContextAccepted,
    ProtocolError,
    TooLarge,
)


@dataclass(frozen=True)
class Rejection:
    """An A-ASSOCIATE-RJ: result (1 permanent, 2 transient), source, reason (PS3.8 §9.3.4)."""

    result: int
    source: int
    reason: int
    why: str


@dataclass
class Peer:
    """The other end of an association, as negotiated."""

    max_pdu: int  # the peer's maximum P-DATA-TF variable field; 0: no limit
    contexts: dict[int, Context] = field(default_factory=dict)
    #: (abstract syntax, proposed transfer syntaxes) -> the A-ASSOCIATE-AC result of each
    #: context the peer did not accept (PS3.8 Table 9-18)
    refused: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict)
    implementation_class_uid: str = ""  # PS3.7 Annex D.3.3.2
    implementation_version_name: str = ""

    @classmethod
    def accepting(cls, ac: AssociateAc, proposals: Sequence[Proposal]) -> Peer:
        """The acceptor as its A-ASSOCIATE-AC describes it: the contexts it accepted in one of
        the transfer syntaxes proposed, and its answer to each it did not."""
        contexts: dict[int, Context] = {}
        refused: dict[tuple[str, tuple[str, ...]], int] = {}
        for cx in ac.contexts:
            p = proposal_of(cx.id, proposals)
            if p is None:
                continue
            if cx.result != ContextResult.ACCEPTANCE:
                refused[(p.abstract_syntax, p.transfer_syntaxes)] = cx.result
            elif cx.transfer_syntax in p.transfer_syntaxes:
                contexts[cx.id] = Context(cx.id, p.abstract_syntax, cx.transfer_syntax)
        return cls(ac.max_pdu, contexts, refused, ac.implementation_class_uid,
                   ac.implementation_version_name)


# -- acceptor ------------------------------------------------------------------------------
@dataclass(frozen=True)
class AssociationRequest:
    """What the caller asked for (from its A-ASSOCIATE-RQ)."""

    calling_ae_title: str
    called_ae_title: str
    address: str
    port: int
    implementation_class_uid: str
    implementation_version_name: str


@dataclass
class Acceptor:
    """The acceptor side of one association (PS3.8 state machine, Sta2 -> Sta13, in the
    subset a Storage SCP needs). ``decide`` may refuse the caller; ``on_store`` returns the
    C-STORE status; ``on_established``/``on_closed`` are told of the association's life.

    ``serve`` runs the whole association on the calling thread and never raises.
    """

    ae_title: str
    supported: Sequence[Any]  # pynetdicom PresentationContext list (Verification, Storage)
    decide: Callable[[AssociationRequest], Rejection | None]
    on_store: Callable[[AssociationRequest, Message], int]
    on_established: Callable[[AssociationRequest], None] = lambda rq: None
    on_closed: Callable[[AssociationRequest, str], None] = lambda rq, how: None
    # a connection that ended before any A-ASSOCIATE-RQ could be read (failed TLS handshake,
    # garbage, silence): told the address and why
    on_failed: Callable[[tuple[str, int], str], None] = lambda address, why: None
    # a C-STORE whose data set grew past ``max_message`` (the association is then aborted):
    # told which instance its command announced
    on_too_large: Callable[[AssociationRequest, TooLarge], None] = lambda rq, exc: None
    max_pdu: int = DEFAULT_MAX_PDU
    artim_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_message: int = 4 << 30  # one data set, in bytes (held in memory while it arrives)

    def serve(self, sock: socket.socket, address: tuple[str, int]) -> None:
        conn = Connection(sock, self.max_pdu)
        rq: AssociationRequest | None = None
        how = "closed"
        try:
            # ARTIM (PS3.8 §9.1.5): the handshake and the whole A-ASSOCIATE-RQ by then
            conn.deadline = time.monotonic() + self.artim_timeout
            sock.settimeout(self.artim_timeout)
            if isinstance(sock, ssl.SSLSocket):
                sock.do_handshake()
            kind, body = conn.read_pdu()
            conn.deadline = None
            if kind != Pdu.A_ASSOCIATE_RQ:
                raise ProtocolError(AbortReason.UNEXPECTED_PDU,
                                    f"expected A-ASSOCIATE-RQ, got PDU type 0x{kind:02X}")
            primitive = decode_rq(body)
            rq = AssociationRequest(
                str(primitive.calling_ae_title).strip(), str(primitive.called_ae_title).strip(),
                address[0], address[1], *implementation(primitive))
            refusal = self.decide(rq)
            if refusal is not None:
                conn.sock.sendall(reject_pdu(refusal.result, refusal.source, refusal.reason))
                _linger(conn)
                how = "rejected"
                return
            peer = self._accept(conn, primitive)
            self.on_established(rq)
            how = self._established(conn, rq, peer)
        except ProtocolError as exc:
            how = f"aborted: {exc}"
            conn.abort(exc.reason)
            if isinstance(exc, TooLarge) and rq is not None:
                with contextlib.suppress(Exception):
                    self.on_too_large(rq, exc)
        except (Aborted, TimeoutError, OSError, ssl.SSLError) as exc:
            how = f"aborted: {_describe(exc)}"
            conn.abort()
        except AssociationError as exc:
            how = f"aborted: {exc}"
            conn.abort()
        except Exception as exc:  # a defect here must cost one association, not the server
            how = f"aborted: internal error ({exc.__class__.__name__})"
            conn.abort()
        finally:
            conn.close()
            if rq is not None:
                self.on_closed(rq, how)
            else:
                self.on_failed(address, how)

    def _accept(self, conn: Connection, primitive: Any) -> Peer:
        from pynetdicom.pdu_primitives import (
            MaximumLengthNotification,
            SCP_SCU_RoleSelectionNegotiation,
        )
        from pynetdicom.presentation import negotiate_as_acceptor

        peer_max = 0
        roles: dict[Any, tuple[bool | None, bool | None]] = {}
        for item in primitive.user_information:
            if isinstance(item, MaximumLengthNotification):
                peer_max = int(item.maximum_length_received or 0)
            elif isinstance(item, SCP_SCU_RoleSelectionNegotiation):
                roles[item.sop_class_uid] = (item.scu_role, item.scp_role)
        results, role_replies = negotiate_as_acceptor(
            primitive.presentation_context_definition_list, list(self.supported), roles or None)
        conn.sock.sendall(accept_pdu(primitive, results, role_replies, self.max_pdu))
        accepted = {int(cx.context_id or 0): Context(int(cx.context_id or 0),
                                                     str(cx.abstract_syntax),
                                                     str(cx.transfer_syntax[0]))
                    for cx in results if cx.result == 0x00}
        return Peer(peer_max, accepted)

    def _established(self, conn: Connection, rq: AssociationRequest, peer: Peer) -> str:
        conn.sock.settimeout(self.idle_timeout)
        assembler = Assembler(peer.contexts, self.max_message)
        while True:
            kind, body = conn.read_pdu()
            if kind == Pdu.P_DATA_TF:
                for msg in assembler.feed(body):
                    if msg.us(0x0100) == Command.C_CANCEL_RQ:
                        continue  # PS3.7 §9.3.2.3: C-CANCEL has no response
                    status = self._dispatch(rq, msg)
                    conn.send_pdv(msg.context.id, response(msg, status), True, peer.max_pdu)
            elif kind == Pdu.A_RELEASE_RQ:
                conn.send_pdu(Pdu.A_RELEASE_RP, bytes(4))
                _linger(conn)
                return "released"
            elif kind == Pdu.A_ABORT:
                return "aborted by the peer"
            else:
                raise ProtocolError(AbortReason.UNEXPECTED_PDU,
                                    f"unexpected PDU type 0x{kind:02X} in an association")

    def _dispatch(self, rq: AssociationRequest, msg: Message) -> int:
        command = msg.us(0x0100)
        if command == Command.C_STORE_RQ and msg.data_set is not None:
            return self.on_store(rq, msg)
        if command == Command.C_ECHO_RQ:
            return Dimse.SUCCESS
        return Dimse.UNRECOGNISED_OPERATION


def _linger(conn: Connection) -> None:
    """After A-ASSOCIATE-RJ or A-RELEASE-RP the requestor closes the connection (PS3.8
    §9.1.5); wait briefly for that rather than cut it, so the peer reads our answer."""
    with contextlib.suppress(OSError):
        conn.sock.settimeout(2.0)
        conn.sock.recv(1)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or exc.__class__.__name__


# -- requestor -------------------------------------------------------------------------------
class Requestor:
    """The requestor side of one association, for sending C-STORE and C-ECHO.

    >>> with Requestor.connect("127.0.0.1", 104, "PACSGUARD", "PACS", proposals) as a:
    ...     status = a.store(context_id, sop_class, sop_instance, data_set)
    """

    def __init__(self, conn: Connection, peer: Peer, timeout: float) -> None:
        self.conn = conn
        self.peer = peer
        self.timeout = timeout
        self._next_id = 1
        self._assembler = Assembler(peer.contexts)
        self.released = False

    @property
    def contexts(self) -> dict[int, Context]:
        return self.peer.contexts

    def context_for(self, abstract_syntax: str, transfer_syntax: str) -> Context | None:
        for cx in self.peer.contexts.values():
            if cx.abstract_syntax == abstract_syntax and cx.transfer_syntax == transfer_syntax:
                return cx
        return None

    def refusal(self, abstract_syntax: str, transfer_syntax: str) -> str:
        """Why no context carries ``abstract_syntax`` in ``transfer_syntax``, in words."""
        return refusal_text(self.peer.refused, abstract_syntax, transfer_syntax)

    @classmethod
    def connect(cls, host: str, port: int, calling: str, called: str,
                proposals: Sequence[Proposal], *, ssl_context: ssl.SSLContext | None = None,
                server_hostname: str | None = None, timeout: float = 30.0,
                max_pdu: int = DEFAULT_MAX_PDU) -> Requestor:
        """Open the connection (TLS if given) and negotiate; raise :class:`AssociationError`
        naming the peer when it cannot be reached or refuses."""
        if not 1 <= len(proposals) <= 128:  # PS3.8 §9.3.2.2: odd context IDs 1..255
            raise AssociationError("propose between 1 and 128 presentation contexts")
        peer_name = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise AssociationError(f"cannot connect to {peer_name}: {_describe(exc)}") from None
        try:
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname or host)
            conn = Connection(sock, max_pdu)
            conn.sock.sendall(request_pdu(calling, called, proposals, max_pdu))
            kind, body = conn.read_pdu()
        except (OSError, ssl.SSLError, AssociationError) as exc:
            with contextlib.suppress(OSError):
                sock.close()
            raise AssociationError(f"association with {peer_name} failed: {_describe(exc)}"
                                   ) from None
        if kind == Pdu.A_ASSOCIATE_RJ and len(body) >= 4:
            conn.close()
            raise AssociationRejected(f"{peer_name} refused the association "
                                      f"({rejection_text(body[1], body[2], body[3])})",
                                      body[1], body[2], body[3])
        if kind != Pdu.A_ASSOCIATE_AC:
            conn.abort(AbortReason.UNEXPECTED_PDU)
            raise AssociationError(f"{peer_name} answered the association request with PDU "
                                   f"type 0x{kind:02X}")
        try:
            peer = Peer.accepting(decode_ac(body, proposals), proposals)
        except AssociationError as exc:
            conn.abort(AbortReason.INVALID_PDU_PARAMETER)
            raise AssociationError(f"{peer_name}: {exc}") from None
        if not peer.contexts:
            conn.abort()
            raise NoContextAccepted(f"{peer_name} accepted none of the presentation contexts",
                                    peer.refused)
        return cls(conn, peer, timeout)

    def __enter__(self) -> Requestor:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.release()
        else:
            self.conn.abort()

    def _message_id(self) -> int:
        mid = self._next_id
        self._next_id = mid % 0xFFFF + 1
        return mid

    def store(self, context: Context, sop_class: str, sop_instance: str,
              data_set: bytes | memoryview) -> int:
        """Send one C-STORE-RQ with its data set; return the status of the C-STORE-RSP."""
        mid = self._message_id()
        self.conn.sock.settimeout(self.timeout)
        try:
            self.conn.send_pdv(context.id, store_rq(mid, sop_class, sop_instance), True,
                               self.peer.max_pdu)
            self.conn.send_pdv(context.id, data_set, False, self.peer.max_pdu)
            return self._await_response(mid, Command.C_STORE_RSP)
        except (OSError, ssl.SSLError) as exc:
            self.abort()
            raise Aborted(f"sending to the peer failed: {_describe(exc)}",
                          Ending.SEND_FAILED) from None
        except AssociationError:
            self.abort()
            raise

    def echo(self, context: Context) -> int:
        mid = self._message_id()
        self.conn.sock.settimeout(self.timeout)
        try:
            self.conn.send_pdv(context.id, echo_rq(mid, context.abstract_syntax), True,
                               self.peer.max_pdu)
            return self._await_response(mid, Command.C_ECHO_RSP)
        except (OSError, ssl.SSLError) as exc:
            self.conn.abort()
            raise Aborted(f"sending to the peer failed: {_describe(exc)}",
                          Ending.SEND_FAILED) from None

    def _await_response(self, mid: int, expected: int) -> int:
        while True:
            kind, body = self.conn.read_pdu()
            if kind == Pdu.P_DATA_TF:
                for msg in self._assembler.feed(body):
                    if msg.us(0x0100) == expected and msg.us(0x0120) == mid:
                        return msg.us(0x0900)
                    raise ProtocolError(AbortReason.UNEXPECTED_PDU,
                                        "the peer answered with an unexpected DIMSE message")
            elif kind == Pdu.A_ABORT:
                self.conn.close()
                raise Aborted("the peer aborted the association", Ending.PEER_ABORTED)
            else:
                raise ProtocolError(AbortReason.UNEXPECTED_PDU,
                                    f"unexpected PDU type 0x{kind:02X} while awaiting a reply")

    def release(self) -> None:
        """A-RELEASE-RQ, wait for A-RELEASE-RP (PS3.8 §9.3.6); on any trouble, abort."""
        if self.released:
            return
        self.released = True
        try:
            self.conn.sock.settimeout(self.timeout)
            self.conn.sock.sendall(release_rq())
            while True:
                kind, _ = self.conn.read_pdu()
                if kind in (Pdu.A_RELEASE_RP, Pdu.A_ABORT):
                    break
        except (OSError, ssl.SSLError, AssociationError):
            self.conn.abort()
        finally:
            self.conn.close()

    def abort(self) -> None:
        self.released = True
        self.conn.abort()




def refusal_text(refused: dict[tuple[str, tuple[str, ...]], int], abstract_syntax: str,
                 transfer_syntax: str) -> str:
    """The destination's answer to a context carrying ``abstract_syntax`` in
    ``transfer_syntax``, in words naming both (PS3.8 Table 9-18)."""
    from pydicom.uid import UID

    name = UID(abstract_syntax).name
    sop = abstract_syntax if not name or name == abstract_syntax else \
        f"{name} ({abstract_syntax})"
    what = f"SOP class {sop} in transfer syntax {transfer_syntax_name(transfer_syntax)}"
    for (a, syntaxes), result in refused.items():
        if a == abstract_syntax and transfer_syntax in syntaxes:
            reason = CONTEXT_RESULTS.get(result, f"result {result}")
            return f"the destination refused {what}: {reason}"
    return f"the destination did not accept {what}"
