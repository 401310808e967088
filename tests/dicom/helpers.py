"""Shared by the upper layer and PS3.10 tests."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread

from pacsguard.dicom.part10 import data_set_offset


def ct_data_set(tmp_path: Path) -> tuple[bytes, str]:
    """An encoded CT data set (Explicit VR Little Endian, no File Meta) and its SOP UID."""
    from tests.fleet import OPTIMA_CT, write_images

    write_images(tmp_path / "img", OPTIMA_CT, 1)
    path = next((tmp_path / "img").rglob("*.dcm"))
    raw = path.read_bytes()
    ds = dcmread(path)
    return raw[data_set_offset(raw):], str(ds.SOPInstanceUID)
