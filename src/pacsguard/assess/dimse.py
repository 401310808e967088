"""DIMSE requests the checks send (PS3.7 §9.1, PS3.4 Annexes B and C), over pynetdicom, with
what comes back reduced to what an assessment may keep.

A C-FIND answer is reduced to a **count** and the **keywords** of the attributes that came
back with a value; the identifiers themselves are dropped as they arrive. No value read from
a response is returned, logged or stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pacsguard.dicom.status import PENDING, status_text, succeeded


class OutcomeState(StrEnum):
    """How a DIMSE request ended (see :class:`Outcome`)."""

    ANSWERED = "answered"
    REFUSED = "refused"
    ABORTED = "aborted"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class Outcome:
    """How one DIMSE request ended. ``state``: answered (a final status came), refused (the
    presentation context was not accepted, or the association was refused), aborted (the node
    ended the association), timeout (no answer within the DIMSE timeout)."""

    state: OutcomeState
    status: int | None = None
    count: int = 0  # C-FIND: matches; C-MOVE/C-GET: sub-operations completed
    failed: int = 0  # C-MOVE/C-GET: sub-operations failed
    warning: int = 0
    pending: int = 0  # pending responses seen
    keywords: frozenset[str] = frozenset()  # C-FIND: attributes that came back with a value
    capped: bool = False  # C-FIND: more matches than the cap; cancelled
    skipped: int = 0  # C-FIND: matches not counted (pacsguard's own test records)
    seconds: float = 0.0

    @property
    def processed(self) -> bool:
        return self.state == OutcomeState.ANSWERED and succeeded(self.status)

    def describe(self) -> str:
        if self.state != OutcomeState.ANSWERED:
            return self.state
        return status_text(self.status)


def _status(rsp: Any) -> int | None:
    return int(rsp.Status) if rsp is not None and "Status" in rsp else None


def _ended(assoc: Any, started: float, timeout: float) -> OutcomeState:
    return (OutcomeState.TIMEOUT if time.monotonic() - started >= timeout * 0.95
            else OutcomeState.ABORTED)


def _has_context(assoc: Any, model: str) -> bool:
    return any(cx.abstract_syntax == model for cx in assoc.accepted_contexts)


def find_on(assoc: Any, model: str, identifier: Any, timeout: float, cap: int = 1000,
            skip: Callable[[Any], bool] | None = None) -> Outcome:
    """One C-FIND on an established association: count the matches (up to ``cap``, then
    C-CANCEL, PS3.4 C.4.1.2.3) and note which attributes came back with a value.

    A match for which ``skip`` is true (pacsguard's own test record) is not counted; it is
    looked at only by ``skip``, as it arrives."""
    if not _has_context(assoc, model):
        return Outcome(OutcomeState.REFUSED)
    started = time.monotonic()
    count = skipped = 0
    keywords: set[str] = set()
    capped = False
    final: int | None = None
    for rsp, identifier_rsp in assoc.send_c_find(identifier, model):
        status = _status(rsp)
        if status is None:
            return Outcome(_ended(assoc, started, timeout), count=count,
                           keywords=frozenset(keywords), skipped=skipped,
                           seconds=time.monotonic() - started)
        if status in PENDING:
            if skip is not None and identifier_rsp is not None and skip(identifier_rsp):
                skipped += 1
                del identifier_rsp
                if skipped > 2 * cap:  # a node that answers nothing else, endlessly
                    assoc.abort()
                    break
                continue
            count += 1
            if identifier_rsp is not None:
                for elem in identifier_rsp:
                    if elem.keyword and elem.value not in (None, "", b"", []) \
                            and elem.keyword not in ("QueryRetrieveLevel",
                                                     "SpecificCharacterSet"):
                        keywords.add(elem.keyword)
            del identifier_rsp
            if count == cap and not capped:
                capped = True
                assoc.send_c_cancel(1, query_model=model)
            elif count > 2 * cap:  # the node ignores C-CANCEL
                assoc.abort()
                break
            continue
        final = status
        break
    state = OutcomeState.ANSWERED if final is not None else _ended(assoc, started, timeout)
    return Outcome(state, final, count, keywords=frozenset(keywords), capped=capped,
                   skipped=skipped, seconds=time.monotonic() - started)


def retrieve_on(assoc: Any, model: str, identifier: Any, timeout: float,
                move_destination: str | None = None, stop_on_pending: bool = True
                ) -> Outcome:
    """One C-MOVE (to ``move_destination``) or C-GET. No storage role is negotiated, so a C-GET
    cannot deliver anything to us; with ``stop_on_pending`` the association is aborted at the
    first pending response, so a C-MOVE the node starts is cut short."""
    if not _has_context(assoc, model):
        return Outcome(OutcomeState.REFUSED)
    started = time.monotonic()
    if move_destination is not None:
        responses = assoc.send_c_move(identifier, move_destination, model)
    else:
        responses = assoc.send_c_get(identifier, model)
    pending = 0
    for rsp, _ in responses:
        status = _status(rsp)
        if status is None:
            return Outcome(_ended(assoc, started, timeout), pending=pending,
                           seconds=time.monotonic() - started)
        if status in PENDING:
            pending += 1
            if stop_on_pending:
                assoc.abort()
                return Outcome(OutcomeState.ANSWERED, status, pending=pending,
                               seconds=time.monotonic() - started)
            continue
        return Outcome(OutcomeState.ANSWERED, status,
                       int(rsp.get("NumberOfCompletedSuboperations", 0) or 0),
                       int(rsp.get("NumberOfFailedSuboperations", 0) or 0),
                       int(rsp.get("NumberOfWarningSuboperations", 0) or 0), pending,
                       seconds=time.monotonic() - started)
    return Outcome(_ended(assoc, started, timeout), pending=pending,
                   seconds=time.monotonic() - started)


def store_on(assoc: Any, ds: Any, timeout: float) -> Outcome:
    """One C-STORE of ``ds`` (which needs ``file_meta.TransferSyntaxUID``)."""
    if not _has_context(assoc, str(ds.SOPClassUID)):
        return Outcome(OutcomeState.REFUSED)
    started = time.monotonic()
    rsp = assoc.send_c_store(ds)
    status = _status(rsp)
    if status is None:
        return Outcome(_ended(assoc, started, timeout), seconds=time.monotonic() - started)
    return Outcome(OutcomeState.ANSWERED, status, seconds=time.monotonic() - started)
