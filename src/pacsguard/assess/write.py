"""Write exposure (only with ``--allow-write``): can an unknown caller store? (PS3.4 Annex B)

1. **C-STORE of a labelled test instance** (:mod:`pacsguard.assess.testdata`: patient
   ``PACSGUARD^TEST^DO-NOT-USE``, descriptions saying it is an authorised security test, fresh
   ``2.25`` UIDs) from the unknown calling title. Success or Warning: ``STORE-ANY-CALLER``.
2. **C-STORE into an existing study** (the Aplite attack: an instance slipped into a study a
   radiologist will read): a second test instance with the first one's Study Instance UID, so
   into a study the node already holds. pacsguard never writes into a real patient's study:
   the existing study is its own test study, which exercises the same acceptance path.
3. **Cleanup** (:func:`cleanup`, run at the end of the assessment, also when it is interrupted
   or fails): every instance pacsguard sent is deleted where the node allows it (Orthanc's
   REST API, with ``--http``); whatever could not be deleted is reported by Study and SOP
   Instance UID, so that the site can (``CLEANUP-INCOMPLETE``, medium: a fake patient left in
   an archive). The list of what was sent belongs to the caller and grows as instances go
   out, so an interruption loses none of them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from pacsguard.assess import dimse
from pacsguard.assess.catalog import finding
from pacsguard.assess.dimse import OutcomeState
from pacsguard.assess.model import Fact, Options, Section
from pacsguard.assess.net import Pacer, dimse_association
from pacsguard.assess.policy import Access
from pacsguard.assess.services import Offered
from pacsguard.assess.testdata import (
    TEST_PATIENT_NAME,
    labelled_instance,
    labelled_patient_id,
)
from pacsguard.assess.web import Web
from pacsguard.dicom.uids import EXPLICIT_LE, SECONDARY_CAPTURE
from pacsguard.findings import Finding, Severity

FAMILY = "write"
TITLE = "Write exposure (test instances)"


@dataclass(frozen=True)
class Written:
    """A test instance pacsguard sent (and the node may hold)."""

    study_uid: str
    sop_instance_uid: str
    accepted: bool | None  # None: the node's answer was not seen (a fuzz case)


def _with_meta(ds: object) -> object:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID  # type: ignore[attr-defined]
    meta.TransferSyntaxUID = UID(EXPLICIT_LE)
    ds.file_meta = meta  # type: ignore[attr-defined]
    return ds


def _sending(written: list[Written], study: str, sop: str) -> int:
    """Note an instance about to be sent (its answer not seen yet); its index in ``written``."""
    written.append(Written(study, sop, None))
    return len(written) - 1


def check(access: Access, offered: Offered, options: Options, pacer: Pacer,
          written: list[Written]) -> Section:
    """Appends every test instance to ``written`` before it is sent (the caller cleans up
    from that list, whatever happens)."""
    started = time.monotonic()
    subject = options.target.text
    if not options.allow_write:
        return Section(FAMILY, TITLE, skipped="not asked: give --allow-write to test whether "
                       "an unknown caller can store (a labelled test instance, cleaned up "
                       "where the node allows)")
    if access.why_not():
        return Section(FAMILY, TITLE, skipped=access.why_not(), incomplete=access.gap)
    if offered.known and SECONDARY_CAPTURE not in offered:
        return Section(FAMILY, TITLE, skipped="the node does not accept Secondary Capture "
                       "Image Storage from an unknown caller")
    findings: list[Finding] = []
    facts: list[Fact] = [Fact("test patient", TEST_PATIENT_NAME)]
    calling = access.calling_aet
    patient = labelled_patient_id()
    first = labelled_instance(patient_id=patient)
    study = str(first.StudyInstanceUID)
    second = labelled_instance(study_uid=study, patient_id=patient)
    second.SeriesNumber = 2
    with dimse_association(access.channel, access.called_aet, calling, [SECONDARY_CAPTURE],
                           options.timeout, pacer) as assoc:
        if assoc is None:
            return Section(FAMILY, TITLE, skipped="the storage association was refused",
                           seconds=time.monotonic() - started)
        i = _sending(written, study, str(first.SOPInstanceUID))
        out = dimse.store_on(assoc, _with_meta(first), options.timeout)
        written[i] = Written(study, str(first.SOPInstanceUID), out.processed)
        facts.append(Fact("C-STORE of a new test study", out.describe()))
        if out.processed:
            findings.append(finding(
                "STORE-ANY-CALLER", Severity.HIGH,
                f"A labelled test instance (patient {TEST_PATIENT_NAME}, new study "
                f"{study}) from the unknown caller '{calling}' was stored: "
                f"{out.describe()}.", subject))
            pacer.wait()
            i = _sending(written, study, str(second.SOPInstanceUID))
            again = (dimse.store_on(assoc, _with_meta(second), options.timeout)
                     if assoc.is_established else dimse.Outcome(OutcomeState.ABORTED))
            written[i] = Written(study, str(second.SOPInstanceUID), again.processed)
            facts.append(Fact("C-STORE into the existing test study", again.describe()))
            if again.processed:
                findings.append(finding(
                    "STORE-INTO-EXISTING", Severity.HIGH,
                    f"A second test instance from '{calling}' was added to study {study}, "
                    f"which the node already held: {again.describe()}. Anyone can add "
                    "images to an existing study (the Aplite attack); pacsguard used its own "
                    "test study, never a patient's.", subject))
        else:
            facts.append(Fact("C-STORE into an existing study", "not tested: the first "
                              "test instance was not stored"))
    return Section(FAMILY, TITLE, tuple(findings), tuple(facts),
                   seconds=time.monotonic() - started)


def cleanup(written: Sequence[Written], web: Web | None, options: Options) -> Section:
    """Delete every test instance sent, where the node allows; report what is left."""
    started = time.monotonic()
    title = "Cleanup of test instances"
    if not written:
        return Section("cleanup", title, skipped="nothing was written")
    subject = options.target.text
    rest = web.rest if web is not None else None
    studies = sorted({w.study_uid for w in written})
    left: list[str] = []
    deleted = absent = 0
    for study in studies:
        result = rest.delete_study(study) if rest is not None else "no REST API"
        if result == "deleted":
            deleted += 1
        elif result == "absent":
            absent += 1
        else:
            left.append(study)
    facts = [Fact("instances sent", str(len(written))),
             Fact("test studies", str(len(studies))), Fact("deleted", str(deleted)),
             Fact("never stored", str(absent)), Fact("left", str(len(left)))]
    if rest is None:
        facts.append(Fact("how", "DICOM has no delete: give --http (Orthanc REST API) to "
                          "let pacsguard clean up"))
    findings = []
    if left:
        uids = [w.sop_instance_uid for w in written if w.study_uid in left]
        findings.append(finding(
            "CLEANUP-INCOMPLETE", Severity.MEDIUM,
            f"Test studies that may remain (patient {TEST_PATIENT_NAME}): "
            f"{', '.join(left)}; SOP Instance UIDs: {', '.join(uids[:20])}"
            + (f" and {len(uids) - 20} more" if len(uids) > 20 else "") + ".", subject))
    return Section("cleanup", title, tuple(findings), tuple(facts),
                   seconds=time.monotonic() - started)
