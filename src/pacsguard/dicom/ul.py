"""A small, fast DICOM Upper Layer (PS3.8) and the two DIMSE services the gateway speaks.

Hand-written because measured speed demands it (issue #4 §9, docs/gateway.md "Upper layer"):
pynetdicom 3.0.4 runs every association on two threads that poll each other with 1 ms sleeps
and decodes every PDU and command set through general-purpose classes. Measured on the 2-core
CI machine, a bare pynetdicom Storage SCP that only keeps the encoded bytes acknowledged 214
instances/s from dcmtk's storescu at 3.6 ms of CPU each, below the gateway's 300/s target
before any fingerprinting, spooling or ledger work; a pynetdicom SCU forwarding to Orthanc
spent about 4 ms of CPU per instance. This module reads whole PDUs with blocking socket calls
on one thread per association and handles P-DATA-TF, C-STORE and C-ECHO itself.

What stays with pynetdicom: the association PDUs (A-ASSOCIATE-RQ/-AC/-RJ encode and decode,
PS3.8 §9.3.2-9.3.4) and presentation-context negotiation (PS3.8 §9.3.2.2, PS3.7 Annex D.3.3),
which run once per association and are where the standard is most intricate.

What this implements (and nothing more):

* PDU framing, PS3.8 §9.3.1: type (1), reserved (1), length (4, big endian), body. A PDU
  longer than we announced as our maximum, an unknown type, or one not allowed in the current
  state ends the association with A-ABORT (source: service-provider), PS3.8 §9.3.8;
* P-DATA-TF, PS3.8 §9.3.5 and Annex E: presentation data value items, each
  ``length (4) | context id (1) | control header (1) | fragment``; control bit 0 says command
  (1) or data set (0), bit 1 says last fragment;
* DIMSE command sets, PS3.7 §9.3 and §E: group 0000, always Implicit VR Little Endian;
  C-ECHO-RQ/-RSP (§9.3.5) and C-STORE-RQ/-RSP (§9.3.1); any other request on an accepted
  context is answered with status 0x0211 (unrecognised operation, PS3.7 Annex C);
* A-RELEASE-RQ/-RP (§9.3.6-7) and A-ABORT (§9.3.8);
* timeouts: ARTIM while waiting for the A-ASSOCIATE-RQ, an idle timeout in the association,
  and a response timeout for the requestor.
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pacsguard.dicom.status import AbortReason
from pacsguard.dicom.uids import transfer_syntax_name
from pacsguard.errors import PacsguardError

# PDU types, PS3.8 Table 9-11
A_ASSOCIATE_RQ = 0x01
A_ASSOCIATE_AC = 0x02
A_ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
A_RELEASE_RQ = 0x05
A_RELEASE_RP = 0x06
A_ABORT = 0x07

# DIMSE command fields, PS3.7 §E.1
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF
NO_DATA_SET = 0x0101  # (0000,0800) CommandDataSetType: no data set follows

# DIMSE statuses, PS3.7 Annex C
SUCCESS = 0x0000
UNRECOGNISED_OPERATION = 0x0211

# A-ABORT reasons when the service provider aborts, PS3.8 Table 9-26
ABORT_UNRECOGNISED_PDU = 0x01
ABORT_UNEXPECTED_PDU = 0x02
ABORT_INVALID_PARAMETER = 0x06

# pacsguard's own Implementation Class UID (PS3.7 Annex D.3.3.2): a UUID-derived UID
# (PS3.5 §B.2), uuid5(URL, "https://github.com/pacsguard/pacsguard/implementation")
IMPLEMENTATION_CLASS_UID = "2.25.114664507040684506303634943128440649938"
IMPLEMENTATION_VERSION_NAME = "PACSGUARD_010"  # SH, at most 16 characters

APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # PS3.7 Annex A.2.1
MAX_ASSOCIATION_PDU = 1 << 20  # an A-ASSOCIATE-RQ with 128 contexts is well under 64 kB
DEFAULT_MAX_PDU = 1 << 20  # what we announce we receive (P-DATA-TF variable field)

_HEADER = struct.Struct(">BxL")
_PDV = struct.Struct(">LBB")
_ELEMENT = struct.Struct("<HHL")


class AssociationError(PacsguardError):
    """The peer refused, aborted, broke the protocol or did not answer in time."""


class Aborted(AssociationError):
    """The association ended without a release (A-ABORT received or sent, or the
    connection dropped)."""


@dataclass(frozen=True)
class Rejection:
    """An A-ASSOCIATE-RJ: result (1 permanent, 2 transient), source, reason (PS3.8 §9.3.4)."""

    result: int
    source: int
    reason: int
    why: str


@dataclass(frozen=True)
class Context:
    """An accepted presentation context."""

    id: int
    abstract_syntax: str
    transfer_syntax: str


@dataclass
class Message:
    """One DIMSE message as received: its command set (element number -> raw value, all in
    group 0000) and, where one followed, the encoded data set exactly as sent."""

    context: Context
    command: dict[int, bytes]
    data_set: bytes | None = None

    def us(self, element: int) -> int:
        v = self.command.get(element, b"")
        if len(v) != 2:
            raise AssociationError(f"command element (0000,{element:04X}) missing or not US")
        return int.from_bytes(v, "little")

    def ui(self, element: int) -> str:
        return self.command.get(element, b"").rstrip(b"\0 ").decode("ascii", "replace")


@dataclass
class _Peer:
    max_pdu: int  # the peer's maximum P-DATA-TF variable field; 0: no limit
    contexts: dict[int, Context] = field(default_factory=dict)
    #: (abstract syntax, proposed transfer syntaxes) -> the A-ASSOCIATE-AC result of each
    #: context the peer did not accept (PS3.8 Table 9-18)
    refused: dict[tuple[str, tuple[str, ...]], int] = field(default_factory=dict)


#: Presentation context results other than acceptance, PS3.8 §9.3.3.2 Table 9-18
CONTEXT_RESULTS = {1: "user rejection", 2: "no reason (provider rejection)",
                   3: "abstract syntax not supported (provider rejection)",
                   4: "transfer syntaxes not supported (provider rejection)"}


# -- command sets ----------------------------------------------------------------------------
def decode_command(raw: bytes) -> dict[int, bytes]:
    """Group 0000 elements of a command set, Implicit VR Little Endian (PS3.7 §6.3.1)."""
    out: dict[int, bytes] = {}
    i, n = 0, len(raw)
    while i < n:
        if n - i < 8:
            raise AssociationError("command set truncated")
        group, element, length = _ELEMENT.unpack_from(raw, i)
        i += 8
        if group != 0x0000 or length > n - i:
            raise AssociationError("command set holds an element outside group 0000 or "
                                   "longer than the command")
        out[element] = bytes(raw[i:i + length])
        i += length
    return out


_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def valid_uid(text: str) -> bool:
    """A UID as PS3.5 §9.1 allows: digits and dots, at most 64 characters. (Leading zeros in
    a component are tolerated: some modalities send them, and refusing would lose images.)"""
    return 0 < len(text) <= 64 and _UID.fullmatch(text) is not None


def _ui(uid: str) -> bytes:
    b = uid.encode("ascii")
    return b + b"\0" if len(b) % 2 else b  # UI pads with NUL to an even length (PS3.5 §6.2)


def encode_command(elements: Iterable[tuple[int, bytes]]) -> bytes:
    """A command set from (element, value) pairs, with its group length (0000,0000) first."""
    body = b"".join(_ELEMENT.pack(0, e, len(v)) + v for e, v in sorted(elements))
    return _ELEMENT.pack(0, 0, 4) + struct.pack("<L", len(body)) + body


def _us(v: int) -> bytes:
    return struct.pack("<H", v)


def store_rq(message_id: int, sop_class: str, sop_instance: str, priority: int = 0) -> bytes:
    """C-STORE-RQ command set, PS3.7 §9.3.1.1."""
    return encode_command([(0x0002, _ui(sop_class)), (0x0100, _us(C_STORE_RQ)),
                           (0x0110, _us(message_id)), (0x0700, _us(priority)),
                           (0x0800, _us(0x0000)), (0x1000, _ui(sop_instance))])


def response(rq: Message, status: int) -> bytes:
    """The -RSP command set answering ``rq`` (C-STORE, C-ECHO or any other request)."""
    field_ = rq.us(0x0100) | 0x8000
    elements = [(0x0100, _us(field_)), (0x0120, _us(rq.us(0x0110))),
                (0x0800, _us(NO_DATA_SET)), (0x0900, _us(status))]
    for e in (0x0002, 0x1000):  # Affected SOP Class / Instance UID, echoed where sent
        if e in rq.command:
            elements.append((e, _ui(rq.ui(e))))
    return encode_command(elements)


# -- file meta -------------------------------------------------------------------------------
def _explicit(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return struct.pack("<HH2s2xL", group, element, vr, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _text(value: str) -> bytes:
    b = value.encode("ascii", "replace")
    return b + b" " if len(b) % 2 else b


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str,
              source_ae: str) -> bytes:
    """Preamble, ``DICM`` and File Meta Information (PS3.10 §7.1) for a data set received over
    the network, in Explicit VR Little Endian. The data set's bytes follow unchanged."""
    elements = (_explicit(2, 0x0001, b"OB", b"\0\1")
                + _explicit(2, 0x0002, b"UI", _ui(sop_class))
                + _explicit(2, 0x0003, b"UI", _ui(sop_instance))
                + _explicit(2, 0x0010, b"UI", _ui(transfer_syntax))
                + _explicit(2, 0x0012, b"UI", _ui(IMPLEMENTATION_CLASS_UID))
                + _explicit(2, 0x0013, b"SH", _text(IMPLEMENTATION_VERSION_NAME))
                + (_explicit(2, 0x0016, b"AE", _text(source_ae)) if source_ae else b""))
    return (b"\0" * 128 + b"DICM" + _explicit(2, 0x0000, b"UL", struct.pack("<L", len(elements)))
            + elements)


# -- the connection --------------------------------------------------------------------------
class Connection:
    """A socket that speaks PDUs. Not thread-safe: one association, one thread."""

    def __init__(self, sock: socket.socket, max_pdu: int = DEFAULT_MAX_PDU) -> None:
        self.sock = sock
        self.max_pdu = max_pdu  # what we announced; a longer P-DATA-TF is a protocol error
        # when set (time.monotonic()), every read must be done by then, however the bytes
        # trickle in: a socket timeout alone restarts with each byte received
        self.deadline: float | None = None
        self._sendmsg = not isinstance(sock, ssl.SSLSocket)
        with contextlib.suppress(OSError):
            # dcmtk, Orthanc and pynetdicom leave Nagle on; 40 ms per message on loopback
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _recv_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            if self.deadline is not None:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out")
                self.sock.settimeout(left)
            k = self.sock.recv_into(view[got:], n - got)
            if k == 0:
                raise Aborted("the peer closed the connection")
            got += k
        return buf

    def read_pdu(self, limit: int | None = None) -> tuple[int, bytearray]:
        """The next PDU's type and body. ``limit`` caps the body (default: our maximum P-DATA
        length plus the PDV headers a peer may add)."""
        head = self._recv_exact(6)
        kind, length = _HEADER.unpack(head)
        cap = limit if limit is not None else (
            (self.max_pdu or 0x7FFFFFFF) + 6 * 64 if kind == P_DATA_TF else MAX_ASSOCIATION_PDU)
        if kind not in (A_ASSOCIATE_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, P_DATA_TF,
                        A_RELEASE_RQ, A_RELEASE_RP, A_ABORT):
            raise ProtocolError(ABORT_UNRECOGNISED_PDU, f"unknown PDU type 0x{kind:02X}")
        if length > cap:
            raise ProtocolError(ABORT_INVALID_PARAMETER,
                                f"PDU of {length:,} bytes exceeds the {cap:,} allowed")
        return kind, self._recv_exact(length)

    def send_pdu(self, kind: int, body: bytes) -> None:
        self.sock.sendall(_HEADER.pack(kind, len(body)) + body)

    def send_pdv(self, context_id: int, payload: bytes | memoryview, command: bool,
                 peer_max: int) -> None:
        """Send a command set or data set as P-DATA-TF PDUs of one PDV each, fragmented to the
        peer's maximum length (PS3.8 §9.3.5: the limit covers the PDV item headers)."""
        view = memoryview(payload)
        chunk = (peer_max - 6) if peer_max else max(len(view), 1)
        if chunk <= 0:
            raise AssociationError(f"the peer's maximum PDU length ({peer_max}) is too small")
        ctrl = 0x01 if command else 0x00
        off, n = 0, len(view)
        while True:
            part = view[off:off + chunk]
            last = off + chunk >= n
            head = (_HEADER.pack(P_DATA_TF, len(part) + 6)
                    + _PDV.pack(len(part) + 2, context_id, ctrl | (0x02 if last else 0)))
            if self._sendmsg:
                self._sendmsg_all([head, part])
            else:
                self.sock.sendall(head + bytes(part))
            off += chunk
            if last:
                return

    def _sendmsg_all(self, parts: list[Any]) -> None:
        total = sum(len(p) for p in parts)
        sent = self.sock.sendmsg(parts)
        if sent == total:
            return
        rest = b"".join(bytes(p) for p in parts)[sent:]  # rare: a partial send
        self.sock.sendall(rest)

    def abort(self, reason: int = 0, source: int = 0x02) -> None:
        """Send A-ABORT (PS3.8 §9.3.8) and close. Never raises."""
        with contextlib.suppress(OSError):
            self.send_pdu(A_ABORT, bytes([0, 0, source, reason]))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class ProtocolError(AssociationError):
    """The peer broke PS3.8; answered with A-ABORT (source service-provider, ``reason``)."""

    reason: AbortReason

    def __init__(self, reason: int, why: str) -> None:
        super().__init__(why, reason=AbortReason(reason))


class TooLarge(ProtocolError):
    """A data set larger than the acceptor takes; names the instance its command announced."""

    def __init__(self, why: str, sop_class_uid: str, sop_instance_uid: str) -> None:
        super().__init__(ABORT_INVALID_PARAMETER, why)
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


class NoContextAccepted(AssociationError):
    """The peer answered A-ASSOCIATE-AC but accepted none of the proposed contexts;
    ``refused`` holds each context's result (PS3.8 Table 9-18)."""

    def __init__(self, why: str, refused: dict[tuple[str, tuple[str, ...]], int]) -> None:
        super().__init__(why)
        self.refused = refused


class _Assembler:
    """Builds DIMSE messages out of PDV items (PS3.8 Annex E), for both roles."""

    def __init__(self, contexts: dict[int, Context], max_message: int = 1 << 62) -> None:
        self.contexts = contexts
        self.max_message = max_message  # bytes of one data set; more ends the association
        self._size = 0
        self._ctx: Context | None = None
        self._command: list[bytes | memoryview] = []
        self._command_done: dict[int, bytes] | None = None
        self._data: list[bytes | memoryview] = []

    def feed(self, body: bytearray) -> list[Message]:
        """Take one P-DATA-TF body; return the messages it completes."""
        done: list[Message] = []
        view = memoryview(body)
        i, n = 0, len(body)
        while i < n:
            if n - i < 6:
                raise ProtocolError(ABORT_INVALID_PARAMETER, "truncated PDV item")
            length, ctx_id, ctrl = _PDV.unpack_from(view, i)
            if length < 2 or length > n - i - 4:
                raise ProtocolError(ABORT_INVALID_PARAMETER,
                                    f"PDV item length {length} does not fit its PDU")
            fragment = view[i + 6:i + 4 + length]
            i += 4 + length
            ctx = self.contexts.get(ctx_id)
            if ctx is None:
                raise ProtocolError(ABORT_INVALID_PARAMETER,
                                    f"PDV on presentation context {ctx_id}, not accepted")
            if self._ctx is None:
                self._ctx = ctx
            elif self._ctx.id != ctx_id:
                raise ProtocolError(ABORT_INVALID_PARAMETER,
                                    "a message's fragments use two presentation contexts")
            if ctrl & 0x01:  # command fragment
                if self._command_done is not None:
                    raise ProtocolError(ABORT_INVALID_PARAMETER,
                                        "a command fragment arrived inside a data set")
                self._command.append(fragment)
                if ctrl & 0x02:
                    self._command_done = decode_command(b"".join(self._command))
                    self._command = []
                    if _data_set_type(self._command_done) == NO_DATA_SET:
                        done.append(Message(ctx, self._command_done))
                        self._reset()
            else:
                if self._command_done is None:
                    raise ProtocolError(ABORT_INVALID_PARAMETER,
                                        "a data set fragment arrived before its command")
                self._data.append(fragment)
                self._size += len(fragment)
                if self._size > self.max_message:
                    announced = Message(ctx, self._command_done)
                    raise TooLarge(f"a data set larger than the {self.max_message:,} bytes "
                                   "allowed", announced.ui(0x0002), announced.ui(0x1000))
                if ctrl & 0x02:
                    done.append(Message(ctx, self._command_done, b"".join(self._data)))
                    self._reset()
        return done

    def _reset(self) -> None:
        self._ctx, self._command_done, self._data, self._size = None, None, [], 0


def _data_set_type(command: dict[int, bytes]) -> int:
    v = command.get(0x0800, b"")
    return int.from_bytes(v, "little") if len(v) == 2 else NO_DATA_SET


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
            if kind != A_ASSOCIATE_RQ:
                raise ProtocolError(ABORT_UNEXPECTED_PDU,
                                    f"expected A-ASSOCIATE-RQ, got PDU type 0x{kind:02X}")
            primitive = _decode_rq(body)
            rq = AssociationRequest(
                str(primitive.calling_ae_title).strip(), str(primitive.called_ae_title).strip(),
                address[0], address[1], *_implementation(primitive))
            refusal = self.decide(rq)
            if refusal is not None:
                conn.send_pdu(A_ASSOCIATE_RJ, bytes([0, refusal.result, refusal.source,
                                                     refusal.reason]))
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

    def _accept(self, conn: Connection, primitive: Any) -> _Peer:
        from pynetdicom.pdu import A_ASSOCIATE_AC as AcPdu
        from pynetdicom.pdu_primitives import (
            A_ASSOCIATE,
            ImplementationClassUIDNotification,
            ImplementationVersionNameNotification,
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
        ac = A_ASSOCIATE()
        ac.application_context_name = APPLICATION_CONTEXT
        ac.calling_ae_title = primitive.calling_ae_title
        ac.called_ae_title = primitive.called_ae_title
        ac.result = 0x00
        ac.result_source = 0x01
        ac.presentation_context_definition_results_list = results
        ml = MaximumLengthNotification()
        ml.maximum_length_received = self.max_pdu
        ic = ImplementationClassUIDNotification()
        ic.implementation_class_uid = IMPLEMENTATION_CLASS_UID
        iv = ImplementationVersionNameNotification()
        iv.implementation_version_name = IMPLEMENTATION_VERSION_NAME
        ac.user_information = [ml, ic, iv, *role_replies]
        pdu = AcPdu()
        pdu.from_primitive(ac)
        conn.sock.sendall(pdu.encode())
        accepted = {int(cx.context_id or 0): Context(int(cx.context_id or 0),
                                                     str(cx.abstract_syntax),
                                                     str(cx.transfer_syntax[0]))
                    for cx in results if cx.result == 0x00}
        return _Peer(peer_max, accepted)

    def _established(self, conn: Connection, rq: AssociationRequest, peer: _Peer) -> str:
        conn.sock.settimeout(self.idle_timeout)
        assembler = _Assembler(peer.contexts, self.max_message)
        while True:
            kind, body = conn.read_pdu()
            if kind == P_DATA_TF:
                for msg in assembler.feed(body):
                    if msg.us(0x0100) == C_CANCEL_RQ:
                        continue  # PS3.7 §9.3.2.3: C-CANCEL has no response
                    status = self._dispatch(rq, msg)
                    conn.send_pdv(msg.context.id, response(msg, status), True, peer.max_pdu)
            elif kind == A_RELEASE_RQ:
                conn.send_pdu(A_RELEASE_RP, bytes(4))
                _linger(conn)
                return "released"
            elif kind == A_ABORT:
                return "aborted by the peer"
            else:
                raise ProtocolError(ABORT_UNEXPECTED_PDU,
                                    f"unexpected PDU type 0x{kind:02X} in an association")

    def _dispatch(self, rq: AssociationRequest, msg: Message) -> int:
        command = msg.us(0x0100)
        if command == C_STORE_RQ and msg.data_set is not None:
            return self.on_store(rq, msg)
        if command == C_ECHO_RQ:
            return SUCCESS
        return UNRECOGNISED_OPERATION


def _linger(conn: Connection) -> None:
    """After A-ASSOCIATE-RJ or A-RELEASE-RP the requestor closes the connection (PS3.8
    §9.1.5); wait briefly for that rather than cut it, so the peer reads our answer."""
    with contextlib.suppress(OSError):
        conn.sock.settimeout(2.0)
        conn.sock.recv(1)


def _decode_rq(body: bytearray) -> Any:
    from pynetdicom.pdu import A_ASSOCIATE_RQ as RqPdu

    pdu = RqPdu()
    try:
        pdu.decode(_HEADER.pack(A_ASSOCIATE_RQ, len(body)) + bytes(body))
        primitive = pdu.to_primitive()
    except Exception as exc:  # pynetdicom raises what the malformed bytes make it raise
        raise ProtocolError(ABORT_INVALID_PARAMETER,
                            f"A-ASSOCIATE-RQ cannot be decoded ({exc.__class__.__name__})"
                            ) from None
    return primitive


def _implementation(primitive: Any) -> tuple[str, str]:
    from pynetdicom.pdu_primitives import (
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
    )

    uid = name = ""
    for item in primitive.user_information:
        if isinstance(item, ImplementationClassUIDNotification):
            uid = str(item.implementation_class_uid or "")
        elif isinstance(item, ImplementationVersionNameNotification):
            name = str(item.implementation_version_name or "")
    return uid, name


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or exc.__class__.__name__


# -- requestor -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposal:
    """A presentation context to propose: one abstract syntax, its transfer syntaxes."""

    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


class Requestor:
    """The requestor side of one association, for sending C-STORE and C-ECHO.

    >>> with Requestor.connect("127.0.0.1", 104, "PACSGUARD", "PACS", proposals) as a:
    ...     status = a.store(context_id, sop_class, sop_instance, data_set)
    """

    def __init__(self, conn: Connection, peer: _Peer, timeout: float) -> None:
        self.conn = conn
        self.peer = peer
        self.timeout = timeout
        self._next_id = 1
        self._assembler = _Assembler(peer.contexts)
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
        if kind == A_ASSOCIATE_RJ and len(body) >= 4:
            conn.close()
            raise AssociationError(f"{peer_name} refused the association "
                                   f"({rejection_text(body[1], body[2], body[3])})")
        if kind != A_ASSOCIATE_AC:
            conn.abort(ABORT_UNEXPECTED_PDU)
            raise AssociationError(f"{peer_name} answered the association request with PDU "
                                   f"type 0x{kind:02X}")
        try:
            peer = _parse_ac(body, proposals)
        except AssociationError as exc:
            conn.abort(ABORT_INVALID_PARAMETER)
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
            return self._await_response(mid, C_STORE_RSP)
        except (OSError, ssl.SSLError) as exc:
            self.abort()
            raise Aborted(f"sending to the peer failed: {_describe(exc)}") from None
        except AssociationError:
            self.abort()
            raise

    def echo(self, context: Context) -> int:
        mid = self._message_id()
        self.conn.sock.settimeout(self.timeout)
        try:
            self.conn.send_pdv(context.id, encode_command([
                (0x0002, _ui(context.abstract_syntax)), (0x0100, _us(C_ECHO_RQ)),
                (0x0110, _us(mid)), (0x0800, _us(NO_DATA_SET))]), True, self.peer.max_pdu)
            return self._await_response(mid, C_ECHO_RSP)
        except (OSError, ssl.SSLError) as exc:
            self.conn.abort()
            raise Aborted(f"sending to the peer failed: {_describe(exc)}") from None

    def _await_response(self, mid: int, expected: int) -> int:
        while True:
            kind, body = self.conn.read_pdu()
            if kind == P_DATA_TF:
                for msg in self._assembler.feed(body):
                    if msg.us(0x0100) == expected and msg.us(0x0120) == mid:
                        return msg.us(0x0900)
                    raise ProtocolError(ABORT_UNEXPECTED_PDU,
                                        "the peer answered with an unexpected DIMSE message")
            elif kind == A_ABORT:
                self.conn.close()
                raise Aborted("the peer aborted the association")
            else:
                raise ProtocolError(ABORT_UNEXPECTED_PDU,
                                    f"unexpected PDU type 0x{kind:02X} while awaiting a reply")

    def release(self) -> None:
        """A-RELEASE-RQ, wait for A-RELEASE-RP (PS3.8 §9.3.6); on any trouble, abort."""
        if self.released:
            return
        self.released = True
        try:
            self.conn.sock.settimeout(self.timeout)
            self.conn.send_pdu(A_RELEASE_RQ, bytes(4))
            while True:
                kind, _ = self.conn.read_pdu()
                if kind in (A_RELEASE_RP, A_ABORT):
                    break
        except (OSError, ssl.SSLError, AssociationError):
            self.conn.abort()
        finally:
            self.conn.close()

    def abort(self) -> None:
        self.released = True
        self.conn.abort()


def request_pdu(calling: str, called: str, proposals: Sequence[Proposal],
                max_pdu: int = DEFAULT_MAX_PDU,
                version_name: str = IMPLEMENTATION_VERSION_NAME) -> bytes:
    """An A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2) from pacsguard, built with pynetdicom's PDU
    classes; context IDs 1, 3, 5, ... in the order given."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ as RqPdu
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
    )
    from pynetdicom.presentation import build_context

    rq = A_ASSOCIATE()
    rq.application_context_name = APPLICATION_CONTEXT
    rq.calling_ae_title = calling
    rq.called_ae_title = called
    contexts = []
    for i, p in enumerate(proposals):
        cx = build_context(p.abstract_syntax, list(p.transfer_syntaxes))
        cx.context_id = 2 * i + 1
        contexts.append(cx)
    rq.presentation_context_definition_list = contexts
    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    ic = ImplementationClassUIDNotification()
    ic.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    iv = ImplementationVersionNameNotification()
    iv.implementation_version_name = version_name
    rq.user_information = [ml, ic, iv]
    pdu = RqPdu()
    pdu.from_primitive(rq)
    return bytes(pdu.encode())


def _parse_ac(body: bytearray, proposals: Sequence[Proposal]) -> _Peer:
    from pynetdicom.pdu import A_ASSOCIATE_AC as AcPdu
    from pynetdicom.pdu_primitives import MaximumLengthNotification

    pdu = AcPdu()
    try:
        pdu.decode(_HEADER.pack(A_ASSOCIATE_AC, len(body)) + bytes(body))
        primitive = pdu.to_primitive()
    except Exception as exc:  # whatever malformed bytes make pynetdicom raise
        raise AssociationError(f"A-ASSOCIATE-AC cannot be decoded ({exc.__class__.__name__})"
                               ) from None
    peer_max = 0
    for item in primitive.user_information:
        if isinstance(item, MaximumLengthNotification):
            peer_max = int(item.maximum_length_received or 0)
    contexts: dict[int, Context] = {}
    refused: dict[tuple[str, tuple[str, ...]], int] = {}
    for cx in primitive.presentation_context_definition_results_list:
        cid = int(cx.context_id or 0)
        k = (cid - 1) // 2
        if cid % 2 == 0 or not 0 <= k < len(proposals):
            continue
        p = proposals[k]
        if cx.result != 0x00:
            refused[(p.abstract_syntax, p.transfer_syntaxes)] = int(cx.result or 0)
            continue
        ts = str(cx.transfer_syntax[0]) if cx.transfer_syntax else ""
        if ts in p.transfer_syntaxes:
            contexts[cid] = Context(cid, p.abstract_syntax, ts)
    return _Peer(peer_max, contexts, refused)


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


_REJECT_REASONS = {(1, 1): "no reason given", (1, 2): "application context not supported",
                   (1, 3): "calling AE title not recognised",
                   (1, 7): "called AE title not recognised",
                   (2, 1): "no reason given", (2, 2): "protocol version not supported",
                   (3, 1): "temporary congestion", (3, 2): "local limit exceeded"}


def rejection_text(result: int, source: int, reason: int) -> str:
    kind = {1: "permanent", 2: "transient"}.get(result, f"result {result}")
    return f"{kind}, {_REJECT_REASONS.get((source, reason), f'source {source} reason {reason}')}"


def data_set_offset(encoded_file: bytes | memoryview) -> int:
    """Where the data set starts in a PS3.10 file: after preamble, ``DICM`` and the File Meta
    group, whose group length (0002,0000) is the first element (PS3.10 §7.1)."""
    b = memoryview(encoded_file)
    if len(b) < 144 or bytes(b[128:132]) != b"DICM" or bytes(b[132:136]) != b"\2\0\0\0" \
            or bytes(b[136:138]) != b"UL":
        raise AssociationError("not a DICOM file with a File Meta group length")
    (group_length,) = struct.unpack_from("<L", b, 140)
    end = 144 + int(group_length)
    if end > len(b):
        raise AssociationError("File Meta group length points past the end of the file")
    return end


def read_meta(encoded_file: bytes) -> dict[int, str]:
    """(0002,xxxx) UI/AE/SH values of a file written with :func:`file_meta` or any PS3.10 file
    (Explicit VR Little Endian, PS3.10 §7.1)."""
    out: dict[int, str] = {}
    end = data_set_offset(encoded_file)
    f = io.BytesIO(encoded_file[132:end])
    while True:
        head = f.read(8)
        if len(head) < 8:
            return out
        group, element, vr = struct.unpack("<HH2s", head[:6])
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            (length,) = struct.unpack("<L", f.read(4))
        else:
            (length,) = struct.unpack("<H", head[6:8])
        value = f.read(length)
        if group == 2 and vr in (b"UI", b"AE", b"SH", b"CS"):
            out[element] = value.rstrip(b"\0 ").decode("ascii", "replace")
