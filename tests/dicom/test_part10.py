"""The PS3.10 file around a data set received over the network (pacsguard.dicom.part10): the
File Meta we write is what pydicom reads, and the data set comes back unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from pacsguard.dicom.part10 import data_set_offset, file_meta, read_meta
from pacsguard.dicom.uids import IMPLEMENTATION_CLASS_UID
from pacsguard.errors import AssociationError
from tests.dicom.helpers import ct_data_set


def test_file_meta_plus_the_received_data_set_is_a_file_pydicom_reads(tmp_path: Path) -> None:
    data_set, uid = ct_data_set(tmp_path)
    f = tmp_path / "out.dcm"
    f.write_bytes(file_meta(CTImageStorage, uid, ExplicitVRLittleEndian, "CT01") + data_set)
    ds = dcmread(f)
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.file_meta.MediaStorageSOPInstanceUID == uid == ds.SOPInstanceUID
    assert ds.file_meta.SourceApplicationEntityTitle == "CT01"
    assert ds.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    raw = f.read_bytes()
    assert raw[data_set_offset(raw):] == data_set
    assert read_meta(raw)[0x0003] == uid


@pytest.mark.parametrize(("what", "raw"), [
    ("no DICM marker", bytes(200)),
    ("a group length past the end",
     b"\0" * 128 + b"DICM" + b"\2\0\0\0UL\4\0" + (1000).to_bytes(4, "little") + bytes(8)),
])
def test_data_set_offset_refuses_what_is_not_a_part10_file(what: str, raw: bytes) -> None:
    with pytest.raises(AssociationError):
        data_set_offset(raw)
