"""Data exposure: what an unknown caller can read (PS3.4 Annex C, Annex K).

* **C-FIND, study level** (Study Root, else Patient Root at patient level): universal
  matching on every key (PS3.4 C.2.2.2.3), so every record matches. Reported: the number of
  matches (counting stops at 1,000 with a C-CANCEL) and which attribute keywords came back
  with a value. Never a value. pacsguard's own test study (stored by the write checks just
  before) is not counted.
* **Modality Worklist C-FIND**: the same, for scheduled procedure steps.
* **C-MOVE to an arbitrary destination**: a destination AE title configured nowhere, for a
  study UID that does not exist (pacsguard made it up): a node that checks destinations says
  "Move destination unknown" (0xA801). Some nodes (dcmqrscp) check the destination only when
  there is something to send and answer Success with no sub-operations. Then, with
  ``--allow-write`` (the write checks run first), the C-MOVE is repeated for pacsguard's own
  labelled test study, and the association is aborted at the first pending response; without
  it the destination check is reported as undetermined. A patient's study is never moved.
* **C-GET**: for a study UID that does not exist, with no storage role negotiated, so nothing
  can be delivered to us. Processed (Success, no sub-operations) means C-GET is open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pacsguard.assess import dimse
from pacsguard.assess.catalog import finding
from pacsguard.assess.dimse import OutcomeState
from pacsguard.assess.model import Fact, Options, Section
from pacsguard.assess.net import Pacer, dimse_association, random_aet
from pacsguard.assess.policy import Access
from pacsguard.assess.services import Offered
from pacsguard.assess.testdata import fresh_uid, is_test_record
from pacsguard.dicom.status import Dimse, succeeded
from pacsguard.dicom.uids import (
    MODALITY_WORKLIST_FIND,
    PATIENT_ROOT_FIND,
    PATIENT_ROOT_GET,
    PATIENT_ROOT_MOVE,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
)
from pacsguard.findings import Finding, Severity

FAMILY = "exposure"
TITLE = "Data exposure to an unknown caller"
FIND_CAP = 1000
STUDY_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
              "StudyTime", "AccessionNumber", "StudyDescription", "ReferringPhysicianName",
              "StudyID", "StudyInstanceUID", "ModalitiesInStudy",
              "NumberOfStudyRelatedInstances")
PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")


@dataclass(frozen=True)
class Exposure:
    find_records: int | None = None  # None: C-FIND not answered


def study_query(level: str = "STUDY") -> Any:
    """A universal-matching identifier (PS3.4 C.2.2.2.3): every key empty."""
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for key in (STUDY_KEYS if level == "STUDY" else PATIENT_KEYS):
        setattr(ds, key, "")
    return ds


def worklist_query() -> Any:
    from pydicom.dataset import Dataset

    step = Dataset()
    for key in ("Modality", "ScheduledStationAETitle", "ScheduledProcedureStepStartDate",
                "ScheduledProcedureStepStartTime", "ScheduledPerformingPhysicianName",
                "ScheduledProcedureStepDescription", "ScheduledProcedureStepID"):
        setattr(step, key, "")
    ds = Dataset()
    for key in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                "AccessionNumber", "RequestedProcedureID", "StudyInstanceUID"):
        setattr(ds, key, "")
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _retrieve_identifier(study_uid: str) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study_uid
    return ds


def _pick(offered: Offered, study: str, patient: str) -> str | None:
    if study in offered:
        return study
    if patient in offered:
        return patient
    return None


def check(access: Access, offered: Offered, options: Options, pacer: Pacer,
          test_study: str | None = None) -> tuple[Section, Exposure]:
    """``test_study``: the Study Instance UID of pacsguard's own test study, when the write
    checks stored one (the only study a C-MOVE is ever asked to send)."""
    started = time.monotonic()
    subject = options.target.text
    if access.why_not():
        return (Section(FAMILY, TITLE, skipped=access.why_not(), incomplete=access.gap),
                Exposure())
    findings: list[Finding] = []
    facts: list[Fact] = []
    ch, called, calling, timeout = (access.channel, access.called_aet, access.calling_aet,
                                    options.timeout)

    # C-FIND
    find_model = _pick(offered, STUDY_ROOT_FIND, PATIENT_ROOT_FIND)
    records: int | None = None
    if find_model is None:
        facts.append(Fact("C-FIND", "no Query/Retrieve FIND context accepted"))
    else:
        level = "STUDY" if find_model == STUDY_ROOT_FIND else "PATIENT"
        with dimse_association(ch, called, calling, [find_model], timeout, pacer) as assoc:
            out = (dimse.find_on(assoc, find_model, study_query(level), timeout, FIND_CAP,
                                 skip=is_test_record)
                   if assoc is not None else dimse.Outcome(OutcomeState.REFUSED))
        what = f"wildcard C-FIND at {level.lower()} level"
        facts.append(Fact("C-FIND", f"{what}: {out.describe()}, {out.count}"
                          f"{'+' if out.capped else ''} matches"
                          + (f" (and {out.skipped} of pacsguard's test records, not counted)"
                             if out.skipped else "")))
        if out.processed or (out.state == OutcomeState.ANSWERED and out.count):
            records = out.count
            keywords = ", ".join(sorted(out.keywords)) or "none"
            if out.count:
                findings.append(finding(
                    "QR-FIND-OPEN", Severity.HIGH,
                    f"A {what} from the unknown caller '{calling}' returned "
                    f"{_records(out.count)}{' or more' if out.capped else ''}; attributes "
                    "returned with "
                    f"values: {keywords}. (Only the count and keywords were kept.)", subject))
            else:
                findings.append(finding(
                    "QR-FIND-OPEN", Severity.LOW,
                    f"A {what} from the unknown caller '{calling}' was answered "
                    f"{out.describe()} with no records (an empty archive, or nothing "
                    "visible yet): anyone may query it once it holds data.", subject))

    # Modality Worklist
    if MODALITY_WORKLIST_FIND in offered:
        with dimse_association(ch, called, calling, [MODALITY_WORKLIST_FIND], timeout,
                               pacer) as assoc:
            out = (dimse.find_on(assoc, MODALITY_WORKLIST_FIND, worklist_query(), timeout,
                                 FIND_CAP)
                   if assoc is not None else dimse.Outcome(OutcomeState.REFUSED))
        facts.append(Fact("Worklist C-FIND", f"{out.describe()}, {out.count} matches"))
        if out.processed or (out.state == OutcomeState.ANSWERED and out.count):
            sev = Severity.HIGH if out.count else Severity.LOW
            findings.append(finding(
                "MWL-FIND-OPEN", sev,
                f"A wildcard worklist C-FIND from '{calling}' returned {out.count} "
                "scheduled procedure step(s); attributes with values: "
                f"{', '.join(sorted(out.keywords)) or 'none'}.", subject))

    # C-MOVE to a destination configured nowhere
    move_model = _pick(offered, STUDY_ROOT_MOVE, PATIENT_ROOT_MOVE)
    if move_model is None:
        facts.append(Fact("C-MOVE", "no Query/Retrieve MOVE context accepted"))
    else:
        destination = random_aet("PGD")
        with dimse_association(ch, called, calling, [move_model], timeout, pacer) as assoc:
            out = (dimse.retrieve_on(assoc, move_model, _retrieve_identifier(fresh_uid()),
                                     timeout, move_destination=destination)
                   if assoc is not None else dimse.Outcome(OutcomeState.REFUSED))
        facts.append(Fact("C-MOVE (study UID that does not exist)",
                          f"to '{destination}': {out.describe()}"))
        accepted = _move_attempted(out)
        evidence = ""
        if accepted:
            evidence = (f"C-MOVE to '{destination}' (configured nowhere) was answered "
                        f"{out.describe()} for a study UID that does not exist.")
        elif out.processed and out.count + out.failed + out.warning == 0:
            # Success with nothing to send: the destination may be checked only when there
            # is something to send. Only pacsguard's own test study is ever asked for.
            if test_study is None:
                facts.append(Fact("C-MOVE destination check", "undetermined: the node "
                                  "answered Success for a study that does not exist; it may "
                                  "check the destination only when it has something to "
                                  "send. pacsguard never moves a patient's study: give "
                                  "--allow-write to repeat the C-MOVE with its own labelled "
                                  "test study"))
            else:
                with dimse_association(ch, called, calling, [move_model], timeout,
                                       pacer) as assoc:
                    own = (dimse.retrieve_on(assoc, move_model,
                                             _retrieve_identifier(test_study), timeout,
                                             move_destination=destination)
                           if assoc is not None else dimse.Outcome(OutcomeState.REFUSED))
                facts.append(Fact("C-MOVE (pacsguard's test study)",
                                  f"to '{destination}': {own.describe()}"))
                if _move_attempted(own):
                    accepted = True
                    evidence = (f"C-MOVE of pacsguard's test study {test_study} to "
                                f"'{destination}' (configured nowhere) was answered "
                                f"{own.describe()} ({own.pending} pending, {own.failed} "
                                "failed sub-operations); pacsguard aborted the association "
                                "at the first pending answer.")
                elif own.processed and own.count + own.failed + own.warning == 0:
                    facts.append(Fact("C-MOVE destination check", "undetermined: the node "
                                      "answered Success with no sub-operations for the test "
                                      "study too (it may not keep what it receives)"))
        if accepted:
            findings.append(finding("QR-MOVE-ANY-DEST", Severity.HIGH, evidence, subject))

    # C-GET
    get_model = _pick(offered, STUDY_ROOT_GET, PATIENT_ROOT_GET)
    if get_model is None:
        facts.append(Fact("C-GET", "no Query/Retrieve GET context accepted"))
    else:
        with dimse_association(ch, called, calling, [get_model], timeout, pacer) as assoc:
            out = (dimse.retrieve_on(assoc, get_model, _retrieve_identifier(fresh_uid()),
                                     timeout)
                   if assoc is not None else dimse.Outcome(OutcomeState.REFUSED))
        facts.append(Fact("C-GET (study UID that does not exist)", out.describe()))
        if out.processed or out.pending:
            sev = Severity.HIGH if records else Severity.MEDIUM
            findings.append(finding(
                "QR-GET-OPEN", sev,
                f"C-GET from the unknown caller '{calling}' was processed ({out.describe()}, "
                f"for a study UID that does not exist; nothing was retrieved)"
                + (f"; the C-FIND listed {_records(records)} anyone could retrieve."
                   if records else "."), subject))
    return (Section(FAMILY, TITLE, tuple(findings), tuple(facts),
                    seconds=time.monotonic() - started), Exposure(records))


def _records(n: int) -> str:
    return f"{n} record" + ("" if n == 1 else "s")


def _move_attempted(out: dimse.Outcome) -> bool:
    """The node started (or tried) sub-operations towards the unknown destination."""
    if out.state != OutcomeState.ANSWERED:
        return False
    if out.pending:
        return True
    if out.status == Dimse.MOVE_DESTINATION_UNKNOWN:
        return False
    return (succeeded(out.status) or out.status == Dimse.OUT_OF_RESOURCES_SUB_OPERATIONS) and \
        out.count + out.failed + out.warning > 0
