"""Which attributes the header digest leaves out, and which ones the clinical digest covers.

Both lists are part of the fingerprint's definition (docs/fingerprint.md). The rewritable list is
configurable at ``pacsguard init`` time and then fixed for the ledger: its identifier is stored in
every entry, so a later change cannot silently turn every recorded instance into
``header_altered`` or, worse, hide a change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from pacsguard.errors import ConfigError


@dataclass(frozen=True)
class Rewritable:
    """One top-level attribute that archives legitimately rewrite, and why."""

    tag: int
    keyword: str
    reason: str


#: Attributes that archives and media writers legitimately add, change or drop. One reason each.
#: Group 0002 (File Meta Information), the top-level pixel data elements and every group length
#: (gggg,0000) are always left out of the header digest and are not part of this list.
DEFAULT_REWRITABLE: tuple[Rewritable, ...] = (
    Rewritable(
        0x04000561,
        "OriginalAttributesSequence",
        "PS3.3 C.12.1.1.9: an archive that coerces attributes records the originals here.",
    ),
    Rewritable(
        0x7FE00001,
        "ExtendedOffsetTable",
        "PS3.5 §A.4: derived from the encapsulated fragments; rebuilt by any transcoding.",
    ),
    Rewritable(
        0x7FE00002,
        "ExtendedOffsetTableLengths",
        "PS3.5 §A.4: derived from the encapsulated fragments; rebuilt by any transcoding.",
    ),
    Rewritable(
        0x00080056,
        "InstanceAvailability",
        "PS3.3 C.4.23.1: archive storage state (ONLINE/NEARLINE), not image content.",
    ),
    Rewritable(
        0x00880140,
        "StorageMediaFileSetUID",
        "PS3.3 C.12.1: set when an instance is written to media (CD/DVD export).",
    ),
    Rewritable(
        0x00880130,
        "StorageMediaFileSetID",
        "PS3.3 C.12.1: set when an instance is written to media (CD/DVD export).",
    ),
    Rewritable(
        0x00082111,
        "DerivationDescription",
        "PS3.3 C.7.6.1.1.3: free text that compressors (dcmtk, dcm4che) write or extend to "
        "describe a compression they applied; the pixel comparison judges the compression.",
    ),
    Rewritable(
        0xFFFAFFFA,
        "DigitalSignaturesSequence",
        "PS3.15 §C: signatures added by archives sign the content, they do not change it.",
    ),
    Rewritable(
        0xFFFCFFFC,
        "DataSetTrailingPadding",
        "PS3.10 §7.2: media writers may add or remove trailing padding.",
    ),
)

#: Top-level attributes that tie an image to a patient and an examination (clinical digest).
#: An image moved to another patient, study or position changes this digest.
CLINICAL_TAGS: dict[int, str] = {
    0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID",
    0x00080020: "StudyDate",
    0x00080021: "SeriesDate",
    0x00080022: "AcquisitionDate",
    0x00080023: "ContentDate",
    0x00080030: "StudyTime",
    0x00080031: "SeriesTime",
    0x00080032: "AcquisitionTime",
    0x00080050: "AccessionNumber",
    0x00080060: "Modality",
    0x00100010: "PatientName",
    0x00100020: "PatientID",
    0x00100021: "IssuerOfPatientID",
    0x00100030: "PatientBirthDate",
    0x00100040: "PatientSex",
    0x00101000: "OtherPatientIDs",
    0x00180015: "BodyPartExamined",
    0x00180050: "SliceThickness",
    0x00185100: "PatientPosition",
    0x00185101: "ViewPosition",
    0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID",
    0x00200010: "StudyID",
    0x00200011: "SeriesNumber",
    0x00200013: "InstanceNumber",
    0x00200032: "ImagePositionPatient",
    0x00200037: "ImageOrientationPatient",
    0x00200052: "FrameOfReferenceUID",
    0x00200060: "Laterality",
    0x00200062: "ImageLaterality",
    0x00201041: "SliceLocation",
    0x00280030: "PixelSpacing",
    0x00181164: "ImagerPixelSpacing",
    0x00280008: "NumberOfFrames",
}


@dataclass(frozen=True)
class HeaderProfile:
    """The effective rewritable list for one ledger; ``id`` goes into every entry."""

    rewritable: tuple[Rewritable, ...]

    # cached: every fingerprint asks for both (measured ~4 µs a file for the id)
    @cached_property
    def tags(self) -> frozenset[int]:
        return frozenset(r.tag for r in self.rewritable)

    @cached_property
    def id(self) -> str:
        canon = ",".join(f"{t:08X}" for t in sorted(self.tags))
        return "hp1-" + hashlib.sha256(canon.encode()).hexdigest()[:16]

    def to_text(self) -> str:
        """One ``GGGGEEEE keyword reason`` line per entry, as stored in the ledger's settings."""
        return "\n".join(f"{r.tag:08X}\t{r.keyword}\t{r.reason}" for r in self.rewritable)

    @classmethod
    def from_text(cls, text: str) -> HeaderProfile:
        items = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t", 2)
            try:
                tag = int(parts[0].strip().replace(",", "").strip("()"), 16)
            except ValueError:
                raise ConfigError(
                    f"header profile line {n}: {parts[0]!r} is not a tag; write it as GGGGEEEE"
                ) from None
            if len(parts) < 3 or not parts[2].strip():
                raise ConfigError(
                    f"header profile line {n}: tag {tag:08X} needs a keyword and a reason, "
                    "separated by tabs"
                )
            items.append(Rewritable(tag, parts[1].strip(), parts[2].strip()))
        return cls(tuple(items))


DEFAULT_PROFILE = HeaderProfile(DEFAULT_REWRITABLE)
