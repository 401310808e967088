"""Encodings real writers get slightly wrong, which are not attacks and must not be reported
as trailing data: the gzip trailer some writers leave after a Deflated data set (PS3.5 §A.5),
and a File Meta that declares Explicit VR over a data set written in Implicit VR."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pydicom
from pydicom.filewriter import write_file_meta_info

from pacsguard.findings import Severity
from pacsguard.scan import disarm_bytes, scan_bytes, scan_file
from tests.fleet import SAMPLES
from tests.scan.polyglots import ELF, implicit_with

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
MR = SAMPLES / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"  # Explicit VR LE


def found(data: bytes) -> dict[str, Severity]:
    return {f.id: f.severity for f in scan_bytes(data).findings}


def _dcmconv(option: str, source: Path, tmp: Path) -> bytes:
    out = tmp / f"converted{option}.dcm"
    subprocess.run([shutil.which("dcmconv") or "dcmconv", option, str(source), str(out)],
                   check=True, capture_output=True)
    return out.read_bytes()


def _stream(data: bytes) -> tuple[bytes, bytes, bytes]:
    """A Deflated file as (File Meta part, raw DEFLATE stream, inflated data set)."""
    start = scan_bytes(data).dataset_offset
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = inflater.decompress(data[start:]) + inflater.flush()
    end = len(data) - len(inflater.unused_data)
    return data[:start], data[start:end], inflated


def test_the_gzip_trailer_in_clunies_deflated_file_is_not_trailing_data() -> None:
    """image_dfl.dcm (D. Clunie, in pydicom's test files) ends with CRC-32 and size."""
    path = PYDICOM_FILES / "image_dfl.dcm"
    meta, stream, inflated = _stream(path.read_bytes())
    assert path.read_bytes()[len(meta) + len(stream):] == struct.pack(
        "<II", zlib.crc32(inflated), len(inflated))
    assert scan_file(path).findings == ()


def test_a_gzip_trailer_after_dcmconvs_deflate_stream_is_not_trailing_data(
        tmp_path: Path) -> None:
    data = _dcmconv("+td", MR, tmp_path)
    assert found(data) == {}  # dcmtk 3.6 writes no trailer
    meta, stream, inflated = _stream(data)
    trailer = struct.pack("<II", zlib.crc32(inflated), len(inflated) & 0xFFFFFFFF)
    assert found(meta + stream + trailer) == {}
    assert found(meta + stream + trailer + b"\0") == {}  # and the pad byte of PS3.5 §A.5
    # eight bytes that are not the trailer of this stream are trailing data
    wrong = struct.pack("<II", zlib.crc32(inflated) ^ 1, len(inflated))
    assert found(meta + stream + wrong) == {"STRUCT-TRAILING": Severity.MEDIUM}
    assert found(meta + stream + trailer + b"more") == {"STRUCT-TRAILING": Severity.MEDIUM}


def _declared_explicit(data: bytes) -> bytes:
    """``data`` (an Implicit VR file) with its File Meta rewritten to declare Explicit VR
    Little Endian; the data set bytes untouched."""
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    meta = ds.file_meta
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    out = io.BytesIO()
    out.write(bytes(128) + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)
    return out.getvalue() + data[scan_bytes(data).dataset_offset:]


def test_explicit_vr_declared_over_an_implicit_data_set_is_named_not_trailing() -> None:
    """pydicom's SC_rgb_jpeg.dcm (written by highdicom) declares JPEG Baseline, an
    Explicit VR syntax, over an Implicit VR data set."""
    result = scan_file(PYDICOM_FILES / "SC_rgb_jpeg.dcm")
    [f] = result.findings
    assert (f.id, f.severity) == ("STRUCT-TS-MISMATCH", Severity.LOW)
    assert "declares 1.2.840.10008.1.2.4.50 (JPEG Baseline)" in f.evidence
    assert "written in Implicit VR Little Endian" in f.evidence


def test_a_real_image_converted_to_implicit_vr_under_an_explicit_file_meta(
        tmp_path: Path) -> None:
    data = _declared_explicit(_dcmconv("+ti", MR, tmp_path))
    assert found(data) == {"STRUCT-TS-MISMATCH": Severity.LOW}
    # nothing to cut: disarm keeps the data set whole (as trailing bytes, it was cut away)
    assert disarm_bytes(data).data == data


def test_content_in_a_mismatched_data_set_is_still_scanned() -> None:
    data = _declared_explicit(implicit_with(ELF))
    assert found(data) == {"STRUCT-TS-MISMATCH": Severity.LOW,
                           "HIDDEN-EXECUTABLE": Severity.HIGH}
