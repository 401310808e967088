"""Disarm: a neutralised copy, the original untouched, the relation in a manifest."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest

from pacsguard.errors import DicomReadError
from pacsguard.scan import disarm_bytes, disarm_file, scan_bytes
from tests.scan.polyglots import (
    ELF,
    JS_PDF,
    absurd_length,
    base_dataset,
    clean_file,
    deflated_with,
    encapsulated,
    exe_zip,
    pe_preamble,
    to_bytes,
    with_private,
    zip_polyglot,
)


def test_disarm_file_zeroes_pe_preamble_and_records_both_digests(tmp_path: Path) -> None:
    original = tmp_path / "in" / "IM0001"
    original.parent.mkdir()
    data = to_bytes(base_dataset(), pe_preamble())
    original.write_bytes(data)
    out = tmp_path / "disarmed"
    record = disarm_file(original, out)
    assert original.read_bytes() == data  # never modified
    copy = Path(record.disarmed_path)
    assert copy.parent == out.resolve()
    assert copy.name == hashlib.sha256(data).hexdigest() + ".dcm"  # no patient data in names
    disarmed = copy.read_bytes()
    assert disarmed[:128] == bytes(128) and disarmed[128:] == data[128:]
    assert scan_bytes(disarmed).findings == ()
    assert pydicom.dcmread(copy).PatientID == "PG-0001"
    [line] = (out / "manifest.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["original_path"] == str(original.resolve())
    assert entry["original_sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["disarmed_path"] == str(copy)
    assert entry["disarmed_sha256"] == hashlib.sha256(disarmed).hexdigest()
    assert entry["removed"] == [{"finding": "PREAMBLE-PE", "what": "preamble", "offset": 0,
                                 "length": 128, "action": "zeroed", "in": "file"}]
    assert entry["remaining"] == [] and entry["disarmed_at"].endswith("Z")


def test_disarm_zeroes_javascript_pdf_and_keeps_a_readable_instance() -> None:
    data = encapsulated(JS_PDF)
    result = disarm_bytes(data)
    assert len(result.data) == len(data) and result.remaining == ()
    ds = pydicom.dcmread(io.BytesIO(result.data))
    assert set(ds.EncapsulatedDocument) == {0}
    assert ds.SOPInstanceUID == pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID


def test_disarm_zeroes_hidden_executable_only() -> None:
    data = with_private(ELF)
    result = disarm_bytes(data)
    changed = [i for i, (a, b) in enumerate(zip(data, result.data, strict=True)) if a != b]
    at = data.index(ELF)
    assert changed and min(changed) >= at and max(changed) < at + len(ELF)
    assert scan_bytes(result.data).findings == ()


def test_disarm_cuts_trailing_bytes() -> None:
    clean = clean_file()
    result = disarm_bytes(clean + exe_zip())
    assert result.data == clean and result.remaining == ()


def test_disarm_breaks_the_zip_polyglot() -> None:
    result = disarm_bytes(zip_polyglot())
    assert not zipfile.is_zipfile(io.BytesIO(result.data))
    assert pydicom.dcmread(io.BytesIO(result.data)).Rows == 1
    assert result.remaining == ()


def test_disarm_reencodes_deflated_data_set() -> None:
    data = deflated_with(ELF)
    result = disarm_bytes(data)
    assert result.removed[0].inflated
    assert scan_bytes(result.data).findings == ()
    ds = pydicom.dcmread(io.BytesIO(result.data))
    assert ds.PatientID == "PG-0001" and set(ds[0x00091001].value) == {0}


def test_disarm_says_what_it_could_not_remove() -> None:
    data = to_bytes(base_dataset(), pe_preamble())
    result = disarm_bytes(absurd_length()[:128].replace(b"\0", b"\1") + absurd_length()[128:])
    assert [f.id for f in result.remaining] == ["STRUCT-LENGTH"]
    assert result.data[:128] == bytes(128)
    assert disarm_bytes(data).remaining == ()


def test_disarm_refuses_what_is_not_dicom() -> None:
    with pytest.raises(DicomReadError, match="not a DICOM file"):
        disarm_bytes(b"just text")
