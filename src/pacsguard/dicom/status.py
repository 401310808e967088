"""The coded values of the DICOM network protocols, named once for all of pacsguard.

DIMSE statuses (PS3.7 Annex C, with the service-specific codes of PS3.4), DIMSE command fields
(PS3.7 §E.1), PDU types (PS3.8 Table 9-11), A-ASSOCIATE-RJ results, sources and reasons
(PS3.8 §9.3.4 Table 9-21), presentation-context results (PS3.8 Table 9-18) and A-ABORT sources
and reasons (PS3.8 Table 9-26). As pynetdicom's ``status.py`` does, each code cites the table
that defines it; ``IntEnum`` so that a code read off the wire compares equal to its member and
any code the standard does not list still flows through as a plain ``int``.

Light on purpose (no pydicom, no pynetdicom): the receiver, the assessment and the gateway
import it on their hot paths.
"""

from __future__ import annotations

from enum import IntEnum


class Dimse(IntEnum):
    """DIMSE status codes (0000,0900), PS3.7 Annex C and PS3.4."""

    SUCCESS = 0x0000  # PS3.7 C.1.1
    PENDING = 0xFF00  # PS3.7 C.2; PS3.4 C.4.1.1.4 (matches are continuing)
    PENDING_OPTIONAL_KEYS = 0xFF01  # PS3.4 C.4.1.1.4: optional keys not supported
    CANCELLED = 0xFE00  # PS3.7 C.3
    WARNING = 0xB000  # PS3.4 B.2.3 coercion of data elements; C.4.2.1.5 sub-operations failed
    ELEMENTS_DISCARDED = 0xB006  # PS3.4 B.2.3
    DATA_SET_DOES_NOT_MATCH = 0xB007  # PS3.4 B.2.3
    OUT_OF_RESOURCES = 0xA700  # PS3.4 B.2.3, C.4.1.1.4
    OUT_OF_RESOURCES_MATCHES = 0xA701  # PS3.4 C.4.2.1.5: number of matches
    OUT_OF_RESOURCES_SUB_OPERATIONS = 0xA702  # PS3.4 C.4.2.1.5, C.4.3.1.4
    MOVE_DESTINATION_UNKNOWN = 0xA801  # PS3.4 C.4.2.1.5
    IDENTIFIER_DOES_NOT_MATCH = 0xA900  # PS3.4 C.4.1.1.4
    CANNOT_UNDERSTAND = 0xC000  # PS3.4 B.2.3, C.4.1.1.4 (first of the Cxxx failures)
    PROCESSING_FAILURE = 0x0110  # PS3.7 C.4.2
    INVALID_SOP_INSTANCE = 0x0117  # PS3.7 C.4.6
    SOP_CLASS_NOT_SUPPORTED = 0x0122  # PS3.7 C.5.7
    NOT_AUTHORISED = 0x0124  # PS3.7 C.5.5
    UNRECOGNISED_OPERATION = 0x0211  # PS3.7 C.5.12


#: the two Pending codes: more responses follow (PS3.7 C.2)
PENDING = (Dimse.PENDING, Dimse.PENDING_OPTIONAL_KEYS)

#: C-STORE answers that mean the instance is stored: Success and the Warnings (PS3.4 B.2.3)
STORED = frozenset({Dimse.SUCCESS, Dimse.WARNING, Dimse.ELEMENTS_DISCARDED,
                    Dimse.DATA_SET_DOES_NOT_MATCH})

_TEXT: dict[int, str] = {
    Dimse.SUCCESS: "Success", Dimse.PENDING: "Pending",
    Dimse.PENDING_OPTIONAL_KEYS: "Pending (optional keys)", Dimse.CANCELLED: "Cancelled",
    Dimse.WARNING: "Warning", Dimse.OUT_OF_RESOURCES: "Out of resources",
    Dimse.OUT_OF_RESOURCES_MATCHES: "Out of resources (matches)",
    Dimse.OUT_OF_RESOURCES_SUB_OPERATIONS: "Out of resources (sub-operations)",
    Dimse.MOVE_DESTINATION_UNKNOWN: "Move destination unknown",
    Dimse.IDENTIFIER_DOES_NOT_MATCH: "Identifier does not match SOP class",
    Dimse.SOP_CLASS_NOT_SUPPORTED: "SOP class not supported",
    Dimse.NOT_AUTHORISED: "Not authorised", Dimse.PROCESSING_FAILURE: "Processing failure",
    Dimse.UNRECOGNISED_OPERATION: "Unrecognised operation",
    Dimse.INVALID_SOP_INSTANCE: "Invalid SOP instance",
}


def status_text(status: int | None) -> str:
    """``0xA700 Out of resources``: a status as an operator reads it (the code alone when the
    standard gives it no name here)."""
    if status is None:
        return "no status"
    name = _TEXT.get(status)
    if name is None and 0xC000 <= status <= 0xCFFF:
        name = "Unable to process"
    return f"0x{status:04X}" + (f" {name}" if name else "")


def succeeded(status: int | None) -> bool:
    """Success or Warning: the request was processed (PS3.7 Annex C.1, C.3)."""
    return status is not None and (status == Dimse.SUCCESS or 0xB000 <= status <= 0xBFFF)


class Command(IntEnum):
    """DIMSE command fields (0000,0100), PS3.7 §E.1 Table E.1-1."""

    C_STORE_RQ = 0x0001
    C_STORE_RSP = 0x8001
    C_GET_RQ = 0x0010
    C_GET_RSP = 0x8010
    C_FIND_RQ = 0x0020
    C_FIND_RSP = 0x8020
    C_MOVE_RQ = 0x0021
    C_MOVE_RSP = 0x8021
    C_ECHO_RQ = 0x0030
    C_ECHO_RSP = 0x8030
    C_CANCEL_RQ = 0x0FFF


#: (0000,0800) Command Data Set Type: no data set follows (PS3.7 §E.1)
NO_DATA_SET = 0x0101


class Pdu(IntEnum):
    """PDU types, PS3.8 Table 9-11."""

    A_ASSOCIATE_RQ = 0x01
    A_ASSOCIATE_AC = 0x02
    A_ASSOCIATE_RJ = 0x03
    P_DATA_TF = 0x04
    A_RELEASE_RQ = 0x05
    A_RELEASE_RP = 0x06
    A_ABORT = 0x07


class RejectResult(IntEnum):
    """A-ASSOCIATE-RJ Result, PS3.8 Table 9-21."""

    PERMANENT = 1
    TRANSIENT = 2


class RejectSource(IntEnum):
    """A-ASSOCIATE-RJ Source, PS3.8 Table 9-21."""

    SERVICE_USER = 1
    PROVIDER_ACSE = 2
    PROVIDER_PRESENTATION = 3


#: (source, reason) as an operator reads it, PS3.8 Table 9-21 (a reason's meaning depends on
#: its source, so reasons are plain codes here, not one enum)
_REJECT_REASONS: dict[tuple[int, int], str] = {
    (RejectSource.SERVICE_USER, 1): "no reason given",
    (RejectSource.SERVICE_USER, 2): "application context not supported",
    (RejectSource.SERVICE_USER, 3): "calling AE title not recognised",
    (RejectSource.SERVICE_USER, 7): "called AE title not recognised",
    (RejectSource.PROVIDER_ACSE, 1): "no reason given",
    (RejectSource.PROVIDER_ACSE, 2): "protocol version not supported",
    (RejectSource.PROVIDER_PRESENTATION, 1): "temporary congestion",
    (RejectSource.PROVIDER_PRESENTATION, 2): "local limit exceeded",
}

#: the (source, reason) pairs of a refused AE title (PS3.8 Table 9-21)
CALLING_NOT_RECOGNISED = (RejectSource.SERVICE_USER, 3)
CALLED_NOT_RECOGNISED = (RejectSource.SERVICE_USER, 7)


def rejection_text(result: int, source: int, reason: int) -> str:
    """``permanent, calling AE title not recognised``."""
    kind = {1: "permanent", 2: "transient"}.get(result, f"result {result}")
    text = _REJECT_REASONS.get((source, reason))
    return f"{kind}, {text or f'source {source} reason {reason}'}"


class ContextResult(IntEnum):
    """Presentation context Result/Reason in an A-ASSOCIATE-AC, PS3.8 Table 9-18."""

    ACCEPTANCE = 0
    USER_REJECTION = 1
    NO_REASON = 2
    ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
    TRANSFER_SYNTAXES_NOT_SUPPORTED = 4


CONTEXT_RESULTS: dict[int, str] = {
    ContextResult.USER_REJECTION: "user rejection",
    ContextResult.NO_REASON: "no reason (provider rejection)",
    ContextResult.ABSTRACT_SYNTAX_NOT_SUPPORTED:
        "abstract syntax not supported (provider rejection)",
    ContextResult.TRANSFER_SYNTAXES_NOT_SUPPORTED:
        "transfer syntaxes not supported (provider rejection)",
}


class AbortReason(IntEnum):
    """A-ABORT Reason/Diag. when the service provider aborts (source 2), PS3.8 Table 9-26."""

    NOT_SPECIFIED = 0x00
    UNRECOGNISED_PDU = 0x01
    UNEXPECTED_PDU = 0x02
    UNRECOGNISED_PDU_PARAMETER = 0x04
    UNEXPECTED_PDU_PARAMETER = 0x05
    INVALID_PDU_PARAMETER = 0x06


#: the (source, reason) pairs of a transient refusal by the service provider (PS3.8 Table 9-21)
TEMPORARY_CONGESTION = (RejectSource.PROVIDER_PRESENTATION, 1)
LOCAL_LIMIT_EXCEEDED = (RejectSource.PROVIDER_PRESENTATION, 2)

#: a C-GET's final status as the retrieving side words it (PS3.4 C.4.3.1.4)
_RETRIEVE_TEXT: dict[int, str] = {
    Dimse.SUCCESS: "success", Dimse.WARNING: "warning: one or more sub-operations failed",
    Dimse.OUT_OF_RESOURCES_MATCHES: "refused: out of resources (number of matches)",
    Dimse.OUT_OF_RESOURCES_SUB_OPERATIONS: "refused: out of resources (sub-operations)",
    Dimse.IDENTIFIER_DOES_NOT_MATCH: "failed: identifier does not match SOP class",
    Dimse.CANNOT_UNDERSTAND: "failed: unable to process", Dimse.CANCELLED: "cancelled",
}


def retrieve_status_text(status: int) -> str:
    """``refused: out of resources (sub-operations)``: a C-GET's final status in words
    (PS3.4 C.4.3.1.4); ``failed`` for any other failure (0xA000 and above), else empty."""
    return _RETRIEVE_TEXT.get(status, "failed" if status >= 0xA000 else "")
