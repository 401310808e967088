"""Services offered to an unknown caller: one A-ASSOCIATE-RQ proposing Verification, common
Storage classes, Query/Retrieve (Patient and Study Root; FIND, MOVE, GET), Modality Worklist,
Storage Commitment and MPPS (PS3.4 Annexes A, B, C, K, F, J), each with Explicit and Implicit
VR Little Endian; the A-ASSOCIATE-AC says which the node accepts (PS3.8 §9.3.3.2). Nothing
else is sent on that association; it is released at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pacsguard.assess.model import Fact, Options, Section
from pacsguard.assess.net import Pacer, Reply, negotiate
from pacsguard.assess.policy import Access
from pacsguard.dicom.pdu import Proposal
from pacsguard.dicom.uids import (
    MODALITY_WORKLIST_FIND,
    MPPS,
    PATIENT_ROOT_FIND,
    PATIENT_ROOT_GET,
    PATIENT_ROOT_MOVE,
    SECONDARY_CAPTURE,
    STORAGE_COMMITMENT,
    STUDY_ROOT_FIND,
    STUDY_ROOT_GET,
    STUDY_ROOT_MOVE,
    VERIFICATION,
)

QUERY_RETRIEVE: dict[str, str] = {
    PATIENT_ROOT_FIND: "Patient Root FIND", PATIENT_ROOT_MOVE: "Patient Root MOVE",
    PATIENT_ROOT_GET: "Patient Root GET", STUDY_ROOT_FIND: "Study Root FIND",
    STUDY_ROOT_MOVE: "Study Root MOVE", STUDY_ROOT_GET: "Study Root GET",
}
OTHER: dict[str, str] = {
    VERIFICATION: "Verification", MODALITY_WORKLIST_FIND: "Modality Worklist FIND",
    STORAGE_COMMITMENT: "Storage Commitment Push", MPPS: "Modality Performed Procedure Step",
}
STORAGE: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.2": "CT", "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT",
    "1.2.840.10008.5.1.4.1.1.4": "MR", "1.2.840.10008.5.1.4.1.1.4.1": "Enhanced MR",
    "1.2.840.10008.5.1.4.1.1.1": "CR", "1.2.840.10008.5.1.4.1.1.1.1": "DX (presentation)",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DX (processing)",
    "1.2.840.10008.5.1.4.1.1.1.2": "Mammography (presentation)",
    "1.2.840.10008.5.1.4.1.1.13.1.3": "Breast Tomosynthesis",
    "1.2.840.10008.5.1.4.1.1.6.1": "US", "1.2.840.10008.5.1.4.1.1.3.1": "US Multi-frame",
    "1.2.840.10008.5.1.4.1.1.20": "NM", "1.2.840.10008.5.1.4.1.1.128": "PET",
    "1.2.840.10008.5.1.4.1.1.12.1": "XA", SECONDARY_CAPTURE: "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.77.1.4": "VL Photographic",
    "1.2.840.10008.5.1.4.1.1.481.1": "RT Image", "1.2.840.10008.5.1.4.1.1.481.2": "RT Dose",
    "1.2.840.10008.5.1.4.1.1.481.3": "RT Structure Set",
    "1.2.840.10008.5.1.4.1.1.481.5": "RT Plan",
    "1.2.840.10008.5.1.4.1.1.104.1": "Encapsulated PDF",
    "1.2.840.10008.5.1.4.1.1.88.11": "Basic Text SR",
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.59": "Key Object Selection",
    "1.2.840.10008.5.1.4.1.1.11.1": "Grayscale Softcopy Presentation State",
}
FAMILY = "services"
TITLE = "Services offered to an unknown caller"


@dataclass(frozen=True)
class Offered:
    """The abstract syntaxes the node accepted for the unknown caller."""

    accepted: frozenset[str] = frozenset()
    known: bool = False  # False: the services could not be asked for

    def __contains__(self, uid: object) -> bool:
        return uid in self.accepted


def check(access: Access, options: Options, pacer: Pacer) -> tuple[Section, Offered]:
    started = time.monotonic()
    if access.why_not():
        return (Section(FAMILY, TITLE, skipped=access.why_not(), incomplete=access.gap),
                Offered())
    uids = [*OTHER, *QUERY_RETRIEVE, *STORAGE]
    proposals = [Proposal(uid) for uid in uids]
    answer = negotiate(access.channel, access.called_aet, access.calling_aet, proposals,
                       options.timeout, pacer)
    if answer.outcome != Reply.ACCEPTED:
        return Section(FAMILY, TITLE, skipped=f"the association proposing {len(uids)} "
                       f"presentation contexts was {answer.describe()}",
                       seconds=time.monotonic() - started), Offered()
    accepted = frozenset(c.abstract_syntax for c in answer.contexts
                         if c.result == 0 and c.abstract_syntax)

    def names(table: dict[str, str]) -> str:
        got = [n for uid, n in table.items() if uid in accepted]
        return ", ".join(got) if got else "none"

    stored = [n for uid, n in STORAGE.items() if uid in accepted]
    facts = (
        Fact("Verification", "accepted" if VERIFICATION in accepted else "not accepted"),
        Fact("Query/Retrieve", names(QUERY_RETRIEVE)),
        Fact("Modality Worklist", "accepted" if MODALITY_WORKLIST_FIND in accepted else
             "not accepted"),
        Fact("Storage Commitment", "accepted" if STORAGE_COMMITMENT in accepted else
             "not accepted"),
        Fact("MPPS", "accepted" if MPPS in accepted else "not accepted"),
        Fact("Storage", f"{len(stored)} of {len(STORAGE)} classes proposed: "
             + (", ".join(stored) if stored else "none")),
    )
    return (Section(FAMILY, TITLE, facts=facts, seconds=time.monotonic() - started),
            Offered(accepted, True))
