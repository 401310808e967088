"""The one kind of instance an assessment ever writes: a clearly labelled, harmless test image.

A Secondary Capture Image (PS3.3 A.8.1) of 8 x 8 black pixels whose patient is
``PACSGUARD^TEST^DO-NOT-USE`` (Patient ID ``PACSGUARD-TEST-`` and random hex), whose study and
series descriptions and image comments say that it is an authorised security test and safe to
delete, and whose UIDs are fresh UUID-derived UIDs (PS3.5 §B.2, root ``2.25``), so that it can
never collide with, or be mistaken for, a real patient's instance.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from pacsguard.dicom.tags import PIXEL_DATA
from pacsguard.dicom.uids import SECONDARY_CAPTURE

TEST_PATIENT_NAME = "PACSGUARD^TEST^DO-NOT-USE"
TEST_PATIENT_PREFIX = "PACSGUARD-TEST-"
TEST_DESCRIPTION = "PACSGUARD SECURITY TEST - NOT A PATIENT - SAFE TO DELETE"
TEST_COMMENT = ("Written by pacsguard assess during an authorised security test of this node. "
                "Not a patient. Safe to delete.")


def fresh_uid() -> str:
    """A new UUID-derived UID (PS3.5 §B.2)."""
    return "2.25." + str(int.from_bytes(secrets.token_bytes(16), "big"))


def derived_uid(*parts: object) -> str:
    """A UUID-derived UID computed from ``parts`` (reproducible: the fuzzer's cases)."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()[:16]
    return "2.25." + str(int.from_bytes(digest, "big") >> 1)  # below 2**127: 39 digits max


def labelled_patient_id(tag: str | None = None) -> str:
    return TEST_PATIENT_PREFIX + (tag or secrets.token_hex(4).upper())


def is_test_record(identifier: Any) -> bool:
    """A C-FIND match that is pacsguard's own test patient (its Patient ID prefix); the value
    is compared and dropped, never kept."""
    return str(identifier.get("PatientID", "") or "").startswith(TEST_PATIENT_PREFIX)


def labelled_instance(study_uid: str | None = None, patient_id: str | None = None,
                  sop_instance_uid: str | None = None, series_uid: str | None = None,
                  when: dt.datetime | None = None) -> Any:
    """The labelled test instance as a pydicom Dataset (no File Meta)."""
    from pydicom.dataset import Dataset

    now = when or dt.datetime.now(dt.UTC)
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = sop_instance_uid or fresh_uid()
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = "OT"
    ds.ConversionType = "WSD"
    ds.Manufacturer = "pacsguard"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = TEST_DESCRIPTION
    ds.SeriesDescription = TEST_DESCRIPTION
    ds.PatientName = TEST_PATIENT_NAME
    ds.PatientID = patient_id or labelled_patient_id()
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid or fresh_uid()
    ds.SeriesInstanceUID = series_uid or fresh_uid()
    ds.StudyID = "PGTEST"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImageComments = TEST_COMMENT
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.add_new(PIXEL_DATA, "OB", bytes(64))  # Pixel Data, OB: no ambiguous VR to resolve
    return ds


def encode(ds: Any, implicit: bool = False) -> bytes:
    """A data set's bytes in Implicit or Explicit VR Little Endian (PS3.5 §7.1), no meta."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = implicit
    write_dataset(fp, ds)
    return bytes(fp.getvalue())
