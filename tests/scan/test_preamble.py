"""The 128-byte preamble (PS3.10 §7.1): zero, a TIFF header, or a finding (CVE-2019-11687)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from pacsguard.findings import Severity
from pacsguard.scan import scan_bytes, scan_file
from tests.scan.polyglots import ELF, HTML, SHELL, base_dataset, exe_zip, pe_preamble, to_bytes


def ids(data: bytes) -> list[str]:
    return [f.id for f in scan_bytes(data).findings]


def test_scan_reports_pe_preamble_as_critical_when_file_calls_the_dicom_file_an_executable(
        tmp_path: Path) -> None:
    data = to_bytes(base_dataset(), pe_preamble())
    path = tmp_path / "polyglot.dcm"
    path.write_bytes(data)
    # the polyglot is real: pydicom reads it as DICOM ...
    assert pydicom.dcmread(path).PatientID == "PG-0001"
    # ... and file(1) recognises a Windows executable (-k: DICOM's magic is stronger, so
    # without -k file stops at "DICOM medical imaging data")
    if shutil.which("file") is None:
        pytest.skip("the 'file' command (package 'file') is not installed")
    described = subprocess.run(["file", "-k", str(path)], capture_output=True, text=True,
                               check=True).stdout
    assert "PE32 executable" in described
    result = scan_file(path)
    assert [f.id for f in result.findings] == ["PREAMBLE-PE"]
    assert result.findings[0].severity is Severity.CRITICAL
    assert "e_lfanew 0x40" in result.findings[0].evidence
    assert result.blocking() and result.exit_status == 6


def test_scan_reports_dos_stub_without_pe_header_as_high() -> None:
    pre = bytearray(128)
    pre[0:2] = b"MZ"
    result = scan_bytes(to_bytes(base_dataset(), bytes(pre)))
    assert [(f.id, f.severity) for f in result.findings] == [("PREAMBLE-PE", Severity.HIGH)]


def test_scan_links_pe_header_in_a_private_element_to_the_preamble_that_points_there() -> None:
    ds = base_dataset()
    ds.add_new(0x00090010, "LO", "PACSGUARD TEST")
    ds.add_new(0x00091001, "OB", b"PE\0\0" + bytes(60))
    data = to_bytes(ds)
    at = data.index(b"PE\0\0")
    pre = bytearray(128)
    pre[0:2] = b"MZ"
    pre[0x3C:0x40] = at.to_bytes(4, "little")
    result = scan_bytes(to_bytes(ds, bytes(pre)))
    found = {f.id: f for f in result.findings}
    assert found["PREAMBLE-PE"].severity is Severity.CRITICAL
    assert "(0009,1001)" in found["HIDDEN-EXECUTABLE"].evidence


@pytest.mark.parametrize(("content", "rule"), [
    (ELF, "PREAMBLE-ELF"),
    (b"\xcf\xfa\xed\xfe" + bytes(28), "PREAMBLE-MACHO"),
    (b"\xca\xfe\xba\xbe\x00\x00\x00\x34", "PREAMBLE-JAVA"),
    (SHELL, "PREAMBLE-SCRIPT"),
    (exe_zip()[:100], "PREAMBLE-ZIP"),
    (b"Rar!\x1a\x07\x01\x00", "PREAMBLE-ARCHIVE"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PREAMBLE-PDF"),
    (HTML, "PREAMBLE-HTML"),
    (b"\0" * 40 + b"<script>alert(1)</script>", "PREAMBLE-HTML"),
])
def test_scan_reports_executable_and_active_signatures_in_preamble_as_high(
        content: bytes, rule: str) -> None:
    result = scan_bytes(to_bytes(base_dataset(), content[:128].ljust(128, b"\0")))
    assert [(f.id, f.severity) for f in result.findings] == [(rule, Severity.HIGH)]


@pytest.mark.parametrize("tiff", [b"II*\0\x08\0\0\0", b"MM\0*\0\0\0\x08"])
def test_scan_allows_tiff_header_preamble(tiff: bytes) -> None:
    assert ids(to_bytes(base_dataset(), tiff.ljust(128, b"\0"))) == []


def test_scan_reports_other_nonzero_preamble_as_low_without_showing_its_bytes() -> None:
    result = scan_bytes(to_bytes(base_dataset(), b"SMITH^JOHN".ljust(128, b" ")))
    [f] = result.findings
    assert (f.id, f.severity) == ("PREAMBLE-NONZERO", Severity.LOW)
    assert "SMITH" not in f.evidence and "mostly text" in f.evidence


def test_scan_reports_bare_data_set_without_preamble_as_info() -> None:
    data = to_bytes(base_dataset())
    bare = data[scan_bytes(data).dataset_offset :]  # the data set alone, as old systems wrote
    result = scan_bytes(bare)
    assert [(f.id, f.severity) for f in result.findings] == [("PREAMBLE-ABSENT", Severity.INFO)]
    assert result.dicom and result.clean
    assert result.transfer_syntax == "1.2.840.10008.1.2.1"
