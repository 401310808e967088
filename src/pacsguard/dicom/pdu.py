"""The DICOM Upper Layer's wire format: PDUs, PDV items, DIMSE command sets and the
association PDUs, as bytes (PS3.8 §9.3 and Annex E, PS3.7 §6.3 and §E).

* PDU framing, PS3.8 §9.3.1: type (1), reserved (1), length (4, big endian), body
  (:func:`frame`; :class:`Connection` reads and writes whole PDUs over a socket);
* P-DATA-TF, PS3.8 §9.3.5 and Annex E: presentation data value items, each
  ``length (4) | context id (1) | control header (1) | fragment``; control bit 0 says command
  (1) or data set (0), bit 1 says last fragment (:func:`pdv`, :class:`Assembler`);
* DIMSE command sets, PS3.7 §6.3.1: group 0000, always Implicit VR Little Endian
  (:func:`encode_command`, :func:`decode_command`, C-STORE-RQ §9.3.1.1, C-ECHO-RQ §9.3.5.1
  and the -RSP of any request);
* the association PDUs (A-ASSOCIATE-RQ/-AC, PS3.8 §9.3.2-9.3.3) are encoded and decoded with
  pynetdicom's PDU classes: they run once per association and are where the standard is most
  intricate. A-ASSOCIATE-RJ, A-RELEASE and A-ABORT are four fixed bytes each.

:mod:`pacsguard.dicom.ul` builds the two roles of an association on this module; the
assessment (:mod:`pacsguard.assess.net`) sends and reads single PDUs with it.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pacsguard.dicom.status import NO_DATA_SET, AbortReason, Command, Pdu, RejectSource
from pacsguard.dicom.uids import (
    APPLICATION_CONTEXT,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    UNCOMPRESSED_LE,
    encode_uid,
)
from pacsguard.errors import (
    Aborted,
    AssociationError,
    Ending,
    PduTooLong,
    PduUndecodable,
    ProtocolError,
    TooLarge,
)

MAX_ASSOCIATION_PDU = 1 << 20  # an A-ASSOCIATE-RQ with 128 contexts is well under 64 kB
DEFAULT_MAX_PDU = 1 << 20  # what we announce we receive (P-DATA-TF variable field)

_HEADER = struct.Struct(">BxL")
_PDV = struct.Struct(">LBB")
_ELEMENT = struct.Struct("<HHL")
_PDU_TYPES = frozenset(Pdu)


@dataclass(frozen=True)
class Proposal:
    """A presentation context to propose: one abstract syntax, its transfer syntaxes (by
    default the two uncompressed little-endian ones every node must take, PS3.5 §10.1)."""

    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...] = UNCOMPRESSED_LE


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


# -- PDUs ------------------------------------------------------------------------------------
def frame(kind: int, body: bytes) -> bytes:
    """One PDU: its type, a reserved byte, the body's length and the body (PS3.8 §9.3.1)."""
    return _HEADER.pack(kind, len(body)) + body


def pdv_header(context_id: int, length: int, command: bool, last: bool) -> bytes:
    """The P-DATA-TF header and PDV item header in front of a ``length``-byte fragment
    (PS3.8 §9.3.5, Annex E.2: bit 0 command, bit 1 last fragment)."""
    ctrl = (0x01 if command else 0x00) | (0x02 if last else 0x00)
    return _HEADER.pack(Pdu.P_DATA_TF, length + 6) + _PDV.pack(length + 2, context_id, ctrl)


def pdv(context_id: int, payload: bytes, command: bool, last: bool = True) -> bytes:
    """One P-DATA-TF PDU holding one PDV (PS3.8 §9.3.5, Annex E)."""
    return pdv_header(context_id, len(payload), command, last) + payload


def release_rq() -> bytes:
    """A-RELEASE-RQ (PS3.8 §9.3.6); A-RELEASE-RP has the same four reserved bytes."""
    return frame(Pdu.A_RELEASE_RQ, bytes(4))


def abort_pdu(reason: int = 0, source: int = 0) -> bytes:
    """A-ABORT (PS3.8 §9.3.8): source 0 service-user, 2 service-provider (with ``reason``)."""
    return frame(Pdu.A_ABORT, bytes([0, 0, source, reason]))


def reject_pdu(result: int, source: int, reason: int) -> bytes:
    """A-ASSOCIATE-RJ (PS3.8 §9.3.4)."""
    return frame(Pdu.A_ASSOCIATE_RJ, bytes([0, result, source, reason]))


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


def command_status(payload: bytes) -> int | None:
    """Status (0000,0900) of a command set, or None. Lenient where :func:`decode_command` is
    strict: it reads elements only up to the status, so that a liveness check learns the
    status of an answer whose later elements are malformed."""
    i = 0
    while i + 8 <= len(payload):
        group, element, length = _ELEMENT.unpack_from(payload, i)
        i += 8
        if group == 0 and element == 0x0900 and length == 2:
            return int.from_bytes(payload[i:i + 2], "little")
        i += length
    return None


def encode_command(elements: Iterable[tuple[int, bytes]]) -> bytes:
    """A command set from (element, value) pairs, with its group length (0000,0000) first."""
    body = b"".join(_ELEMENT.pack(0, e, len(v)) + v for e, v in sorted(elements))
    return _ELEMENT.pack(0, 0, 4) + struct.pack("<L", len(body)) + body


def _us(v: int) -> bytes:
    return struct.pack("<H", v)


def store_rq(message_id: int, sop_class: str, sop_instance: str, priority: int = 0) -> bytes:
    """C-STORE-RQ command set, PS3.7 §9.3.1.1."""
    return encode_command([(0x0002, encode_uid(sop_class)), (0x0100, _us(Command.C_STORE_RQ)),
                           (0x0110, _us(message_id)), (0x0700, _us(priority)),
                           (0x0800, _us(0x0000)), (0x1000, encode_uid(sop_instance))])


def echo_rq(message_id: int, sop_class: str) -> bytes:
    """C-ECHO-RQ command set, PS3.7 §9.3.5.1 (``sop_class``: Verification)."""
    return encode_command([(0x0002, encode_uid(sop_class)), (0x0100, _us(Command.C_ECHO_RQ)),
                           (0x0110, _us(message_id)), (0x0800, _us(NO_DATA_SET))])


def response(rq: Message, status: int) -> bytes:
    """The -RSP command set answering ``rq`` (C-STORE, C-ECHO or any other request)."""
    field_ = rq.us(0x0100) | 0x8000
    elements = [(0x0100, _us(field_)), (0x0120, _us(rq.us(0x0110))),
                (0x0800, _us(NO_DATA_SET)), (0x0900, _us(status))]
    for e in (0x0002, 0x1000):  # Affected SOP Class / Instance UID, echoed where sent
        if e in rq.command:
            elements.append((e, encode_uid(rq.ui(e))))
    return encode_command(elements)


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
                raise Aborted("the peer closed the connection", Ending.CLOSED)
            got += k
        return buf

    def read_pdu(self, limit: int | None = None) -> tuple[int, bytearray]:
        """The next PDU's type and body. ``limit`` caps the body (default: our maximum P-DATA
        length plus the PDV headers a peer may add)."""
        head = self._recv_exact(6)
        kind, length = _HEADER.unpack(head)
        cap = limit if limit is not None else (
            (self.max_pdu or 0x7FFFFFFF) + 6 * 64 if kind == Pdu.P_DATA_TF
            else MAX_ASSOCIATION_PDU)
        if kind not in _PDU_TYPES:
            raise ProtocolError(AbortReason.UNRECOGNISED_PDU, f"unknown PDU type 0x{kind:02X}")
        if length > cap:
            raise PduTooLong(length, cap)
        return kind, self._recv_exact(length)

    def send_pdu(self, kind: int, body: bytes) -> None:
        self.sock.sendall(frame(kind, body))

    def send_pdv(self, context_id: int, payload: bytes | memoryview, command: bool,
                 peer_max: int) -> None:
        """Send a command set or data set as P-DATA-TF PDUs of one PDV each, fragmented to the
        peer's maximum length (PS3.8 §9.3.5: the limit covers the PDV item headers)."""
        view = memoryview(payload)
        chunk = (peer_max - 6) if peer_max else max(len(view), 1)
        if chunk <= 0:
            raise AssociationError(f"the peer's maximum PDU length ({peer_max}) is too small")
        off, n = 0, len(view)
        while True:
            part = view[off:off + chunk]
            last = off + chunk >= n
            head = pdv_header(context_id, len(part), command, last)
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
            self.sock.sendall(abort_pdu(reason, source))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class Assembler:
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
        invalid = AbortReason.INVALID_PDU_PARAMETER
        while i < n:
            if n - i < 6:
                raise ProtocolError(invalid, "truncated PDV item")
            length, ctx_id, ctrl = _PDV.unpack_from(view, i)
            if length < 2 or length > n - i - 4:
                raise ProtocolError(invalid, f"PDV item length {length} does not fit its PDU")
            fragment = view[i + 6:i + 4 + length]
            i += 4 + length
            ctx = self.contexts.get(ctx_id)
            if ctx is None:
                raise ProtocolError(invalid,
                                    f"PDV on presentation context {ctx_id}, not accepted")
            if self._ctx is None:
                self._ctx = ctx
            elif self._ctx.id != ctx_id:
                raise ProtocolError(invalid,
                                    "a message's fragments use two presentation contexts")
            if ctrl & 0x01:  # command fragment
                if self._command_done is not None:
                    raise ProtocolError(invalid,
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
                    raise ProtocolError(invalid,
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


# -- association PDUs (pynetdicom's PDU classes) ---------------------------------------------
def _user_information(max_pdu: int, version_name: str) -> list[Any]:
    """Maximum length (PS3.8 Annex D.1), Implementation Class UID and Version Name (PS3.7
    Annex D.3.3.2-3): the user information pacsguard sends in A-ASSOCIATE-RQ and -AC."""
    from pynetdicom.pdu_primitives import (
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
    )

    ml = MaximumLengthNotification()
    ml.maximum_length_received = max_pdu
    ic = ImplementationClassUIDNotification()
    ic.implementation_class_uid = IMPLEMENTATION_CLASS_UID
    iv = ImplementationVersionNameNotification()
    iv.implementation_version_name = version_name
    return [ml, ic, iv]


def request_pdu(calling: str, called: str, proposals: Sequence[Proposal],
                max_pdu: int = DEFAULT_MAX_PDU,
                version_name: str = IMPLEMENTATION_VERSION_NAME) -> bytes:
    """An A-ASSOCIATE-RQ PDU (PS3.8 §9.3.2) from pacsguard, built with pynetdicom's PDU
    classes; context IDs 1, 3, 5, ... in the order given."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ as RqPdu
    from pynetdicom.pdu_primitives import A_ASSOCIATE
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
    rq.user_information = _user_information(max_pdu, version_name)
    pdu = RqPdu()
    pdu.from_primitive(rq)
    return bytes(pdu.encode())


def decode_rq(body: bytearray) -> Any:
    """An A-ASSOCIATE-RQ's body as pynetdicom's A-ASSOCIATE primitive; :class:`PduUndecodable`
    when it cannot be decoded."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ as RqPdu

    pdu = RqPdu()
    try:
        pdu.decode(frame(Pdu.A_ASSOCIATE_RQ, bytes(body)))
        primitive = pdu.to_primitive()
    except Exception as exc:  # pynetdicom raises what the malformed bytes make it raise
        raise PduUndecodable("A-ASSOCIATE-RQ", exc.__class__.__name__) from None
    return primitive


def implementation(primitive: Any) -> tuple[str, str]:
    """(Implementation Class UID, Implementation Version Name) of an A-ASSOCIATE primitive
    (PS3.7 Annex D.3.3.2-3)."""
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


def accept_pdu(rq: Any, results: Sequence[Any], role_replies: Sequence[Any],
               max_pdu: int) -> bytes:
    """The A-ASSOCIATE-AC (PS3.8 §9.3.3) answering the request primitive ``rq`` with the
    negotiated context ``results`` and role selection replies (pynetdicom objects)."""
    from pynetdicom.pdu import A_ASSOCIATE_AC as AcPdu
    from pynetdicom.pdu_primitives import A_ASSOCIATE

    ac = A_ASSOCIATE()
    ac.application_context_name = APPLICATION_CONTEXT
    ac.calling_ae_title = rq.calling_ae_title
    ac.called_ae_title = rq.called_ae_title
    ac.result = 0x00
    ac.result_source = RejectSource.SERVICE_USER
    ac.presentation_context_definition_results_list = list(results)
    ac.user_information = [*_user_information(max_pdu, IMPLEMENTATION_VERSION_NAME),
                           *role_replies]
    pdu = AcPdu()
    pdu.from_primitive(ac)
    return bytes(pdu.encode())


def proposal_of(context_id: int, proposals: Sequence[Proposal]) -> Proposal | None:
    """The proposal a context ID answers: IDs 1, 3, 5, ... in the order proposed."""
    k = (context_id - 1) // 2
    return proposals[k] if context_id % 2 and 0 <= k < len(proposals) else None


@dataclass(frozen=True)
class ContextAnswer:
    """One presentation context of an A-ASSOCIATE-AC (PS3.8 §9.3.3.2)."""

    id: int
    abstract_syntax: str  # of the proposal it answers ("": it answers none)
    result: int  # 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax, 4 transfer
    transfer_syntax: str


@dataclass(frozen=True)
class AssociateAc:
    """What an A-ASSOCIATE-AC says (PS3.8 §9.3.3, PS3.7 Annex D.3.3)."""

    max_pdu: int  # the peer's maximum P-DATA-TF variable field; 0: no limit
    implementation_class_uid: str
    implementation_version_name: str
    contexts: tuple[ContextAnswer, ...]


def decode_ac(body: bytes | bytearray, proposals: Sequence[Proposal]) -> AssociateAc:
    """An A-ASSOCIATE-AC's body, read against the ``proposals`` it answers;
    :class:`PduUndecodable` when it cannot be decoded."""
    from pynetdicom.pdu import A_ASSOCIATE_AC as AcPdu
    from pynetdicom.pdu_primitives import MaximumLengthNotification

    pdu = AcPdu()
    try:
        pdu.decode(frame(Pdu.A_ASSOCIATE_AC, bytes(body)))
        primitive = pdu.to_primitive()
    except Exception as exc:  # whatever malformed bytes make pynetdicom raise
        raise PduUndecodable("A-ASSOCIATE-AC", exc.__class__.__name__) from None
    peer_max = 0
    for item in primitive.user_information:
        if isinstance(item, MaximumLengthNotification):
            peer_max = int(item.maximum_length_received or 0)
    results = []
    for cx in primitive.presentation_context_definition_results_list:
        cid = int(cx.context_id or 0)
        p = proposal_of(cid, proposals)
        ts = str(cx.transfer_syntax[0]) if cx.transfer_syntax else ""
        results.append(ContextAnswer(cid, p.abstract_syntax if p else "", int(cx.result or 0),
                                     ts))
    return AssociateAc(peer_max, *implementation(primitive), tuple(results))
