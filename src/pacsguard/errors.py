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
