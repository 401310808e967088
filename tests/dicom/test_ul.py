"""The hand-written DICOM upper layer (pacsguard.dicom.ul): both roles interoperating with
pynetdicom and with each other, and hostile PDUs answered with A-ABORT without taking the
listener down."""

from __future__ import annotations

import io
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pacsguard.dicom import pdu, ul
from pacsguard.dicom.part10 import file_meta
from pacsguard.dicom.status import NO_DATA_SET, Command, Dimse, Pdu
from pacsguard.dicom.uids import IMPLEMENTATION_CLASS_UID
from pacsguard.errors import AssociationError
from tests.dicom.helpers import ct_data_set

VERIFICATION = "1.2.840.10008.1.1"


def _supported() -> list[object]:
    from pynetdicom import ALL_TRANSFER_SYNTAXES
    from pynetdicom.presentation import build_context

    return [build_context(CTImageStorage, ALL_TRANSFER_SYNTAXES),
            build_context(VERIFICATION, ALL_TRANSFER_SYNTAXES)]


class _Server:
    """An Acceptor on 127.0.0.1 serving each connection on a thread; records what it got."""

    def __init__(self, refuse: ul.Rejection | None = None, status: int = Dimse.SUCCESS) -> None:
        self.stored: list[pdu.Message] = []
        self.closed: list[str] = []
        self.acceptor = ul.Acceptor("GW", _supported(), lambda rq: refuse, self._store,
                                    on_closed=lambda rq, how: self.closed.append(how),
                                    max_pdu=16384, artim_timeout=2.0, idle_timeout=2.0)
        self.status = status
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.threads: list[threading.Thread] = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _store(self, rq: ul.AssociationRequest, msg: pdu.Message) -> int:
        self.stored.append(msg)
        return self.status

    def _loop(self) -> None:
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self.acceptor.serve, args=(conn, addr), daemon=True)
            self.threads.append(t)
            t.start()

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=10)
            assert not t.is_alive(), "an association thread did not end"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def test_pynetdicom_stores_and_echoes_through_our_acceptor(server: _Server,
                                                           tmp_path: Path) -> None:
    from pynetdicom import AE

    data_set, uid = ct_data_set(tmp_path)
    ae = AE("CT01")
    ae.add_requested_context(CTImageStorage, ExplicitVRLittleEndian)
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate("127.0.0.1", server.port, ae_title="GW")
    assert assoc.is_established
    assert assoc.acceptor.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    assert assoc.send_c_echo().Status == 0
    ds = dcmread(io.BytesIO(file_meta(CTImageStorage, uid, ExplicitVRLittleEndian, "")
                            + data_set))
    assert assoc.send_c_store(ds).Status == 0
    assoc.release()
    server.join()
    assert len(server.stored) == 1
    msg = server.stored[0]
    assert msg.ui(0x1000) == uid and msg.context.transfer_syntax == ExplicitVRLittleEndian
    assert dcmread(io.BytesIO(file_meta(CTImageStorage, uid, ExplicitVRLittleEndian, "")
                              + (msg.data_set or b""))).SOPInstanceUID == uid
    assert server.closed == ["released"]


def test_our_requestor_fragments_to_the_peers_maximum_and_the_bytes_arrive_unchanged(
        server: _Server, tmp_path: Path) -> None:
    data_set, uid = ct_data_set(tmp_path)
    server.acceptor.max_pdu = 1000  # the data set goes in many PDUs of at most 1,000 bytes
    proposals = [pdu.Proposal(CTImageStorage, (ExplicitVRLittleEndian,)),
                 pdu.Proposal(VERIFICATION, (ImplicitVRLittleEndian,))]
    with ul.Requestor.connect("127.0.0.1", server.port, "CT01", "GW", proposals,
                              timeout=5) as a:
        assert a.peer.max_pdu == 1000
        ctx = a.context_for(CTImageStorage, ExplicitVRLittleEndian)
        assert ctx is not None
        assert a.store(ctx, CTImageStorage, uid, data_set) == Dimse.SUCCESS
        echo = a.context_for(VERIFICATION, ImplicitVRLittleEndian)
        assert echo is not None and a.echo(echo) == Dimse.SUCCESS
    server.join()
    assert server.stored[0].data_set == data_set


def test_a_failure_status_reaches_the_requestor() -> None:
    s = _Server(status=0xA700)
    try:
        with ul.Requestor.connect("127.0.0.1", s.port, "CT01", "GW",
                                  [pdu.Proposal(CTImageStorage, (ExplicitVRLittleEndian,))],
                                  timeout=5) as a:
            ctx = a.context_for(CTImageStorage, ExplicitVRLittleEndian)
            assert ctx is not None
            assert a.store(ctx, CTImageStorage, "1.2.3", b"\x08\x00\x18\x00UI\x04\x001.2\x00"
                           ) == 0xA700
    finally:
        s.close()


def test_a_refused_caller_gets_a_rejection_the_requestor_names() -> None:
    s = _Server(refuse=ul.Rejection(1, 1, 3, "not on the list"))
    try:
        with pytest.raises(AssociationError, match="calling AE title not recognised"):
            ul.Requestor.connect("127.0.0.1", s.port, "NOBODY", "GW",
                                 [pdu.Proposal(VERIFICATION, (ImplicitVRLittleEndian,))],
                                 timeout=5)
    finally:
        s.close()


def _raw(port: int, data: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(data)
        if not read:
            return b""
        out = b""
        try:
            while chunk := c.recv(4096):
                out += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return out


def _associate_rq() -> bytes:
    return pdu.request_pdu("CT01", "GW", [pdu.Proposal(CTImageStorage, (ExplicitVRLittleEndian,))],
                           16384)


@pytest.mark.parametrize(("name", "payload"), [
    ("unknown PDU type", b"\x09\x00" + struct.pack(">L", 4) + b"\0\0\0\0"),
    ("P-DATA before the association", b"\x04\x00" + struct.pack(">L", 6) + b"\0\0\0\x02\x01\x03"),
    ("an absurd length", b"\x01\x00" + struct.pack(">L", 0xFFFFFFF0)),
    ("a malformed A-ASSOCIATE-RQ", b"\x01\x00" + struct.pack(">L", 10) + b"\x00\x01" + b"\xff" * 8),
])
def test_hostile_pdus_are_aborted_and_the_listener_lives_on(server: _Server, name: str,
                                                              payload: bytes) -> None:
    answer = _raw(server.port, payload)
    assert answer[:1] == bytes([Pdu.A_ABORT]), name
    server.join()
    assert server.closed == [] or server.closed[-1].startswith("aborted")
    with ul.Requestor.connect("127.0.0.1", server.port, "CT01", "GW",
                              [pdu.Proposal(VERIFICATION, (ImplicitVRLittleEndian,))],
                              timeout=5) as a:
        assert a.echo(next(iter(a.contexts.values()))) == Dimse.SUCCESS


def test_a_pdv_on_a_context_never_accepted_aborts_the_association(server: _Server) -> None:
    bad_pdv = struct.pack(">LBB", 4, 99, 0x03) + b"\0\0"
    answer = _raw(server.port, _associate_rq()
                  + b"\x04\x00" + struct.pack(">L", len(bad_pdv)) + bad_pdv)
    assert answer[:1] == bytes([Pdu.A_ASSOCIATE_AC])
    assert bytes([Pdu.A_ABORT]) in answer[6 + struct.unpack(">L", answer[2:6])[0]:][:1]
    server.join()
    assert server.closed[-1].startswith("aborted")


def test_a_silent_client_is_dropped_after_the_artim_timeout(server: _Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
        c.sendall(b"\x01\x00")  # half a PDU header, then nothing
        assert c.recv(100)[:1] in (bytes([Pdu.A_ABORT]), b"")  # within ARTIM (2 s)
    server.join()


def test_a_request_trickled_a_byte_at_a_time_is_cut_at_the_artim_deadline(
        server: _Server) -> None:
    import time

    rq = _associate_rq()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
        try:
            for b in rq:  # each byte well inside a per-read timeout; the whole far beyond ARTIM
                c.sendall(bytes([b]))
                time.sleep(0.3)
        except OSError:
            pass  # cut off, as it should be
    server.join()
    assert time.monotonic() - started < 8  # ARTIM is 2 s; without a deadline: len(rq) * 0.3
    assert server.closed == []  # it never became an association


def test_a_data_set_beyond_the_limit_ends_the_association(server: _Server,
                                                          tmp_path: Path) -> None:
    data_set, uid = ct_data_set(tmp_path)
    server.acceptor.max_message = 1000
    a = ul.Requestor.connect("127.0.0.1", server.port, "CT01", "GW",
                             [pdu.Proposal(CTImageStorage, (ExplicitVRLittleEndian,))],
                             timeout=5)
    ctx = a.context_for(CTImageStorage, ExplicitVRLittleEndian)
    assert ctx is not None
    with pytest.raises(AssociationError):
        a.store(ctx, CTImageStorage, uid, data_set)
    server.join()
    assert server.stored == [] and "larger than" in server.closed[-1]


def test_c_cancel_gets_no_response(server: _Server) -> None:
    with ul.Requestor.connect("127.0.0.1", server.port, "CT01", "GW",
                              [pdu.Proposal(VERIFICATION, (ImplicitVRLittleEndian,))],
                              timeout=5) as a:
        ctx = next(iter(a.contexts.values()))
        a.conn.send_pdv(ctx.id, pdu.encode_command([
            (0x0100, struct.pack("<H", Command.C_CANCEL_RQ)), (0x0120, struct.pack("<H", 1)),
            (0x0800, struct.pack("<H", NO_DATA_SET))]), True, a.peer.max_pdu)
        assert a.echo(ctx) == Dimse.SUCCESS  # the next answer is the echo's, not a cancel's
