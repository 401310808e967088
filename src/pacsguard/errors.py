"""The one exception hierarchy of pacsguard.

Every expected failure is a :class:`PacsguardError` whose message says what was wrong, with
which file, peer or setting, and what to do. The CLI prints the message and exits non-zero;
it never shows a traceback for these.

Code that must tell failures apart reads ``reason`` (an enum defined here beside the exception
that carries it), never the message text: messages are for people and may be reworded.
Every exception pacsguard raises across a module boundary lives in this module; only private
control-flow exceptions that never leave their module (``scan``'s ``_Stop``, for example) stay
beside the code that raises and catches them.
"""

from __future__ import annotations

from enum import Enum, StrEnum

from pacsguard.dicom.status import AbortReason


class PacsguardError(Exception):
    """Base class: an expected failure with a message meant for the operator, and optionally a
    machine-readable ``reason`` (a member of an enum in this module)."""

    def __init__(self, message: str = "", *, reason: Enum | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class ConfigError(PacsguardError):
    """A setting, data directory or key is missing or wrong."""


class DicomReadError(PacsguardError):
    """A file could not be read as DICOM; the message names the file and the reason."""


class StoreError(PacsguardError):
    """The ledger database could not be opened, migrated or written."""


class LedgerError(PacsguardError):
    """The ledger's content is inconsistent or a request against it is invalid."""


class ProofError(LedgerError):
    """A Merkle inclusion or consistency proof failed to verify (RFC 9162 §2.1.3/§2.1.4)."""


class CheckpointError(LedgerError):
    """A signed checkpoint is malformed, has a bad signature, or does not match the ledger."""


class ChangedInstanceError(LedgerError):
    """An instance already recorded under its SOP Instance UID arrived with other content."""


class AdvisoryError(PacsguardError):
    """An advisory document or alert file was rejected; the message names it and says why."""


class AssessError(PacsguardError):
    """An assessment cannot start or go on: no authorisation, a target out of scope, a peer
    that cannot be reached. The message says what to do."""


# -- DICOM reading (pacsguard.dicom.stream, pacsguard.dicom.walker) -------------------------
class TruncatedError(PacsguardError):
    """The file ended inside an element; carries the logical offset where it happened. The
    walker turns it into a :class:`DicomReadError` naming the file."""

    def __init__(self, offset: int, wanted: int) -> None:
        super().__init__(f"file ends at byte {offset} while {wanted} more bytes were expected")
        self.offset = offset
        self.wanted = wanted


# -- the DICOM upper layer (pacsguard.dicom.ul, pacsguard.dicom.pdu) ------------------------
class Ending(StrEnum):
    """How an association ended without a release (the reason of :class:`Aborted`)."""

    CLOSED = "closed"  # the peer closed the connection: no A-ABORT, no A-RELEASE
    PEER_ABORTED = "peer-aborted"  # the peer sent A-ABORT (PS3.8 §9.3.8)
    SEND_FAILED = "send-failed"  # sending to the peer failed


class AssociationError(PacsguardError):
    """The peer refused, aborted, broke the protocol or did not answer in time."""


class Aborted(AssociationError):
    """The association ended without a release (A-ABORT received or sent, or the
    connection dropped); ``reason`` says which."""

    reason: Ending

    def __init__(self, why: str, ending: Ending) -> None:
        super().__init__(why, reason=ending)


class AssociationRejected(AssociationError):
    """The peer answered A-ASSOCIATE-RJ: ``result``, ``source`` and ``diagnostic`` as sent
    (PS3.8 §9.3.4 Table 9-21; :func:`pacsguard.dicom.status.rejection_text` words them)."""

    def __init__(self, why: str, result: int, source: int, diagnostic: int) -> None:
        super().__init__(why)
        self.result = result
        self.source = source
        self.diagnostic = diagnostic


class ProtocolError(AssociationError):
    """The peer broke PS3.8; answered with A-ABORT (source service-provider, ``reason``)."""

    reason: AbortReason

    def __init__(self, reason: int, why: str) -> None:
        super().__init__(why, reason=AbortReason(reason))


class PduTooLong(ProtocolError):
    """A PDU longer than the reader allows (PS3.8 §9.3.1): ``length`` and ``limit`` in
    bytes."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(AbortReason.INVALID_PDU_PARAMETER,
                         f"PDU of {length:,} bytes exceeds the {limit:,} allowed")
        self.length = length
        self.limit = limit


class PduUndecodable(ProtocolError):
    """An association PDU that cannot be decoded: ``pdu`` names it (``A-ASSOCIATE-AC``),
    ``error`` is the decoder's exception class."""

    def __init__(self, pdu: str, error: str) -> None:
        super().__init__(AbortReason.INVALID_PDU_PARAMETER,
                         f"{pdu} cannot be decoded ({error})")
        self.pdu = pdu
        self.error = error


class TooLarge(ProtocolError):
    """A data set larger than the acceptor takes; names the instance its command announced."""

    def __init__(self, why: str, sop_class_uid: str, sop_instance_uid: str) -> None:
        super().__init__(AbortReason.INVALID_PDU_PARAMETER, why)
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid


class NoContextAccepted(AssociationError):
    """The peer answered A-ASSOCIATE-AC but accepted none of the proposed contexts;
    ``refused`` holds each context's result (PS3.8 Table 9-18)."""

    def __init__(self, why: str, refused: dict[tuple[str, tuple[str, ...]], int]) -> None:
        super().__init__(why)
        self.refused = refused
# -- scan (pacsguard.scan) ----------------------------------------------------------------------


class ShortRead(PacsguardError):
    """The bytes a scan asked for are not there: the file ended, or shrank while it was
    scanned (``pacsguard.scan.source``). The scanner turns it into a ``STRUCT-LENGTH``
    finding naming ``offset``; it never reaches the operator."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"the file ends at byte {offset}")
        self.offset = offset


# -- the gateway (gateway/, app/gateway.py) ---------------------------------------------------


class GatewayFailure(StrEnum):
    """Why the gateway cannot start."""

    TLS_CREDENTIALS = "tls_credentials"  # [tls] certificate or key cannot be loaded
    CANNOT_LISTEN = "cannot_listen"  # the address or port cannot be bound (in use, not ours)


class GatewayError(PacsguardError):
    """The gateway cannot start; the message names the setting or port and what to do."""


class PacsFailure(StrEnum):
    """Why ``verify --pacs`` stopped without a verdict (gateway/pacs.py)."""

    REFUSED = "refused"  # the PACS refused or did not answer the association
    QUERY_FAILED = "query_failed"  # a C-FIND answered a failure status
    LOCAL = "local"  # our side (the temporary folder's disk) failed while an instance arrived
    ASSOCIATION_LOST = "association_lost"  # it ended during a C-GET, and again or for good


class PacsError(PacsguardError):
    """``verify --pacs`` cannot go on with the PACS; the message names it and what to do."""
