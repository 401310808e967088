"""The upper layer's wire format (pacsguard.dicom.pdu): command sets that pydicom reads back,
any P-DATA-TF body or command set either decoded or refused as a protocol error, and PDU
reading errors that say, in their reason, what went wrong."""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from pacsguard.dicom import pdu
from pacsguard.dicom.status import AbortReason, Pdu
from pacsguard.errors import (
    Aborted,
    AssociationError,
    Ending,
    PduTooLong,
    PduUndecodable,
    ProtocolError,
)


def test_a_command_set_we_encode_is_what_pydicom_decodes() -> None:
    from pynetdicom.dsutils import decode

    raw = pdu.store_rq(7, CTImageStorage, "1.2.3.4.5", priority=2)
    ds = decode(io.BytesIO(raw), True, True)
    assert ds.CommandField == 0x0001 and ds.MessageID == 7 and ds.Priority == 2
    assert ds.AffectedSOPClassUID == CTImageStorage
    assert ds.AffectedSOPInstanceUID == "1.2.3.4.5"
    assert ds.CommandGroupLength == len(raw) - 12
    rq = pdu.Message(pdu.Context(1, CTImageStorage, ImplicitVRLittleEndian),
                    pdu.decode_command(raw), b"")
    rsp = decode(io.BytesIO(pdu.response(rq, 0xA700)), True, True)
    assert rsp.CommandField == 0x8001 and rsp.MessageIDBeingRespondedTo == 7
    assert rsp.Status == 0xA700 and rsp.CommandDataSetType == 0x0101
    assert rsp.AffectedSOPInstanceUID == "1.2.3.4.5"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_p_data_body_either_assembles_or_raises_a_protocol_error(body: bytes) -> None:
    asm = pdu.Assembler({1: pdu.Context(1, CTImageStorage, ExplicitVRLittleEndian)})
    with contextlib.suppress(AssociationError):
        asm.feed(bytearray(body))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_command_set_either_decodes_or_raises_a_protocol_error(raw: bytes) -> None:
    with contextlib.suppress(AssociationError):
        pdu.decode_command(raw)




def _connection_reading(data: bytes, close: bool = True) -> pdu.Connection:
    """A Connection whose peer has sent ``data`` (and then closed, with ``close``)."""
    ours, theirs = socket.socketpair()
    theirs.sendall(data)
    if close:
        theirs.close()
    conn = pdu.Connection(ours)
    conn.deadline = time.monotonic() + 5
    return conn


def test_a_peer_that_closes_mid_pdu_is_an_abort_whose_reason_says_closed() -> None:
    conn = _connection_reading(pdu.frame(Pdu.A_ASSOCIATE_AC, b"\x00" * 10)[:8])
    with pytest.raises(Aborted) as caught:
        conn.read_pdu()
    assert caught.value.reason is Ending.CLOSED


def test_a_pdu_longer_than_the_limit_names_its_length_and_the_limit() -> None:
    conn = _connection_reading(bytes([Pdu.A_ASSOCIATE_AC, 0]) + struct.pack(">L", 5000))
    with pytest.raises(PduTooLong) as caught:
        conn.read_pdu(limit=4096)
    assert (caught.value.length, caught.value.limit) == (5000, 4096)
    assert caught.value.reason is AbortReason.INVALID_PDU_PARAMETER


def test_an_unknown_pdu_type_is_a_protocol_error_to_abort_with() -> None:
    conn = _connection_reading(bytes([0x48, 0x54]) + b"TP/1.1 400")  # an HTTP server's answer
    with pytest.raises(ProtocolError) as caught:
        conn.read_pdu()
    assert caught.value.reason is AbortReason.UNRECOGNISED_PDU
    assert "unknown PDU type 0x48" in str(caught.value)


def test_an_undecodable_a_associate_ac_names_the_pdu_and_the_decoders_error() -> None:
    with pytest.raises(PduUndecodable) as caught:
        pdu.decode_ac(bytes(68) + b"\x99\x00\x00\x02ab", [])  # an item of unknown type
    assert caught.value.pdu == "A-ASSOCIATE-AC" and caught.value.error
    assert str(caught.value).startswith("A-ASSOCIATE-AC cannot be decoded (")
