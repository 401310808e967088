"""Structural abuse (PS3.5 §7.1 lengths, §7.5 nesting, §A.4 fragments, trailing bytes) and
input that is not DICOM at all."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest

from pacsguard.errors import ConfigError, DicomReadError
from pacsguard.findings import Severity
from pacsguard.scan import Limits, Unreadable, scan_bytes, scan_file, scan_paths
from pacsguard.scan import source as source_module
from pacsguard.scan.model import ScanResult
from tests.scan.polyglots import (
    ELF,
    absurd_length,
    base_dataset,
    clean_file,
    deflated_with,
    exe_zip,
    fragments,
    nested,
    to_bytes,
)


def found(data: bytes, limits: Limits | None = None) -> dict[str, Severity]:
    result = scan_bytes(data) if limits is None else scan_bytes(data, limits=limits)
    return {f.id: f.severity for f in result.findings}


def test_scan_reports_nesting_beyond_32_levels_but_not_ordinary_depth() -> None:
    assert found(nested(10)) == {}
    assert found(nested(32)) == {}
    assert found(nested(33)) == {"STRUCT-NESTING": Severity.MEDIUM}
    assert found(nested(2000)) == {"STRUCT-NESTING": Severity.MEDIUM}  # no RecursionError


def test_scan_reports_excessive_fragments_relative_to_frames() -> None:
    assert found(fragments(100)) == {}
    assert found(fragments(5000)) == {"STRUCT-FRAGMENTS": Severity.MEDIUM}
    assert found(fragments(5000, frames=1000)) == {}  # 5 fragments per frame is normal


def test_scan_stops_counting_fragments_far_beyond_the_limit() -> None:
    result = scan_bytes(fragments(20000), limits=Limits(fragments_floor=100))
    [f] = result.findings
    assert f.id == "STRUCT-FRAGMENTS" and "stopped counting" in f.evidence


def test_scan_reports_absurd_length() -> None:
    [f] = scan_bytes(absurd_length()).findings
    assert f.id == "STRUCT-LENGTH" and "4294967280 bytes" in f.evidence


def test_scan_reports_truncated_file_as_length_finding() -> None:
    data = clean_file()
    assert found(data[:-10]) == {"STRUCT-LENGTH": Severity.MEDIUM}


def test_scan_reports_trailing_bytes_and_what_they_are() -> None:
    assert found(clean_file() + exe_zip()) == {"STRUCT-TRAILING": Severity.MEDIUM,
                                               "HIDDEN-EXECUTABLE": Severity.HIGH}
    assert found(clean_file() + b"\x01junk appended by a broken writer") == {
        "STRUCT-TRAILING": Severity.MEDIUM}
    assert found(clean_file() + bytes(512)) == {"STRUCT-TRAILING": Severity.INFO}


def test_scan_reports_bytes_after_the_deflate_stream_as_trailing() -> None:
    assert found(deflated_with(b"ok") + b"\x01after the stream") == {
        "STRUCT-TRAILING": Severity.MEDIUM}


def test_scan_reports_deflate_bomb_without_inflating_it_all() -> None:
    data = deflated_with(b"ok")
    ds_start = scan_bytes(data).dataset_offset
    bomb = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = bomb.compress(bytes(64 << 20)) + bomb.flush()  # 64 KiB that inflate to 64 MiB
    result = scan_bytes(data[:ds_start] + body, limits=Limits(max_inflated=1 << 20))
    assert [(f.id, f.severity) for f in result.findings] == [("STRUCT-DEFLATE", Severity.HIGH)]


def test_scan_reports_garbage_in_place_of_a_deflated_data_set() -> None:
    data = deflated_with(b"ok")
    ds_start = scan_bytes(data).dataset_offset
    assert found(data[:ds_start] + b"\xff" * 64) == {"STRUCT-DEFLATE": Severity.HIGH}


def test_scan_reports_file_that_is_not_dicom_and_says_when_it_is_an_executable(
        tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    result = scan_file(notes)
    assert not result.dicom
    assert [(f.id, f.severity) for f in result.findings] == [("NOT-DICOM", Severity.INFO)]
    assert [(f.id, f.severity) for f in scan_bytes(ELF * 4).findings] == [
        ("NOT-DICOM", Severity.MEDIUM)]
    assert [f.id for f in scan_bytes(b"").findings] == ["NOT-DICOM"]


def test_scan_file_names_the_file_it_cannot_open(tmp_path: Path) -> None:
    with pytest.raises(DicomReadError, match=r"missing\.dcm: cannot be opened"):
        scan_file(tmp_path / "missing.dcm")
    with pytest.raises(DicomReadError, match="not a regular file"):
        scan_file(tmp_path)


def test_scan_paths_recurses_and_refuses_a_folder_with_nothing(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "one.dcm").write_bytes(clean_file())
    (tmp_path / "a" / "two.dcm").write_bytes(clean_file())
    results = list(scan_paths([tmp_path]))
    assert len(results) == 2 and all(isinstance(r, ScanResult) and r.clean for r in results)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: a folder with no files"):
        list(scan_paths([tmp_path / "empty"]))


def test_scan_paths_yields_a_file_that_vanished_as_unreadable_and_goes_on(
        tmp_path: Path) -> None:
    for name in ("a.dcm", "b.dcm", "c.dcm"):
        (tmp_path / name).write_bytes(clean_file())
    results = scan_paths([tmp_path])
    first = next(results)  # the folder is listed; b.dcm goes before it is scanned
    (tmp_path / "b.dcm").unlink()
    rest = list(results)
    assert isinstance(first, ScanResult)
    assert isinstance(rest[0], Unreadable) and "b.dcm: cannot be opened" in rest[0].message
    assert isinstance(rest[1], ScanResult) and rest[1].subject.endswith("c.dcm")


def test_scan_file_reads_headers_and_jumps_over_large_pixel_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = base_dataset()
    ds.Rows, ds.Columns = 2048, 2048
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelData = bytes(2048 * 2048 * 2)  # 8 MiB
    ds.add_new(0xFFFC_FFFC, "OB", b"\0" * 64)  # Data Set Trailing Padding after the pixels
    path = tmp_path / "large.dcm"
    path.write_bytes(to_bytes(ds))
    read = []
    real_pread = os.pread

    def counting_pread(fd: int, n: int, offset: int) -> bytes:
        data = real_pread(fd, n, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(source_module.os, "pread", counting_pread)
    result = scan_file(path)
    assert result.clean
    assert sum(read) < 700_000, read  # first window, the element after the pixels, the tail
    assert scan_bytes(path.read_bytes()).findings == ()


def test_scan_file_and_scan_bytes_agree(tmp_path: Path) -> None:
    ds = base_dataset()
    ds.PixelData = bytes(3 << 20)
    ds.Rows, ds.Columns = 1024, 3072
    data = to_bytes(ds, b"MZ".ljust(128, b"\0")) + exe_zip()
    path = tmp_path / "big-polyglot.dcm"
    path.write_bytes(data)
    assert scan_file(path).findings == scan_bytes(data, str(path)).findings


def test_scan_paths_gives_the_same_results_in_worker_processes(tmp_path: Path) -> None:
    for i in range(40):
        (tmp_path / f"IM{i:03d}.dcm").write_bytes(clean_file() if i % 3 else
                                                   clean_file() + exe_zip())
    one = list(scan_paths([tmp_path]))
    many = list(scan_paths([tmp_path], workers=2))
    assert [r.subject for r in many] == [r.subject for r in one]
    assert [r.findings for r in many if isinstance(r, ScanResult)] == \
        [r.findings for r in one if isinstance(r, ScanResult)]


def test_scan_inflates_a_large_deflated_data_set_in_chunks() -> None:
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = base_dataset(ts=DeflatedExplicitVRLittleEndian)
    ds.add_new(0x00090010, "LO", "PACSGUARD TEST")
    ds.add_new(0x00091001, "OB", os.urandom(3 << 20))  # incompressible: > 1 MiB compressed
    ds.add_new(0x00091002, "OB", ELF)
    result = scan_bytes(to_bytes(ds))
    [f] = result.findings
    assert f.id == "HIDDEN-EXECUTABLE" and "(0009,1002)" in f.evidence
