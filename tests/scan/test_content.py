"""Content: encapsulated documents (PS3.3 A.45) and payloads hidden in elements."""

from __future__ import annotations

import pytest
from pydicom.uid import ExplicitVRBigEndian

from pacsguard.findings import Severity
from pacsguard.scan import scan_bytes
from tests.scan.polyglots import (
    CLEAN_CDA,
    CLEAN_PDF,
    ELF,
    ESCAPED_JS_PDF,
    HTML,
    JS_PDF,
    LAUNCH_PDF,
    SCRIPT_CDA,
    SHELL,
    base_dataset,
    deflated_with,
    encapsulated,
    exe_zip,
    fragments,
    implicit_with,
    pdf_with_js_in_object_stream,
    plain_zip,
    to_bytes,
    with_private,
    zip_polyglot,
)


def found(data: bytes) -> dict[str, Severity]:
    return {f.id: f.severity for f in scan_bytes(data).findings}


def test_scan_reports_javascript_in_encapsulated_pdf_as_high() -> None:
    result = scan_bytes(encapsulated(JS_PDF))
    by_id = {f.id: f for f in result.findings}
    assert by_id["CONTENT-PDF-JAVASCRIPT"].severity is Severity.HIGH
    assert "(0042,0011)" in by_id["CONTENT-PDF-JAVASCRIPT"].evidence
    # /OpenAction runs it when the document opens
    assert by_id["CONTENT-PDF-AUTO-ACTION"].severity is Severity.HIGH
    assert result.blocking(Severity.HIGH)


def test_scan_finds_javascript_written_with_name_escapes() -> None:
    assert "CONTENT-PDF-JAVASCRIPT" in found(encapsulated(ESCAPED_JS_PDF))


def test_scan_finds_javascript_inside_compressed_object_streams() -> None:
    result = scan_bytes(encapsulated(pdf_with_js_in_object_stream()))
    [js] = [f for f in result.findings if f.id == "CONTENT-PDF-JAVASCRIPT"]
    assert "compressed streams" in js.evidence


def test_scan_reports_launch_action_in_pdf() -> None:
    assert found(encapsulated(LAUNCH_PDF)) == {"CONTENT-PDF-LAUNCH": Severity.HIGH}


def test_scan_reports_embedded_files_in_pdf_as_medium() -> None:
    pdf = CLEAN_PDF.replace(b"/Type /Catalog", b"/Type /Catalog /Names << /EmbeddedFiles "
                            b"5 0 R >>")
    assert found(encapsulated(pdf)) == {"CONTENT-PDF-EMBEDDED-FILE": Severity.MEDIUM}


def test_scan_leaves_plain_pdf_with_open_action_alone() -> None:
    assert found(encapsulated(CLEAN_PDF)) == {}


def test_scan_reports_script_and_objects_in_cda() -> None:
    assert found(encapsulated(SCRIPT_CDA, "text/XML")) == {
        "CONTENT-CDA-SCRIPT": Severity.HIGH, "CONTENT-CDA-EMBEDDED": Severity.MEDIUM}
    assert found(encapsulated(CLEAN_CDA, "text/XML")) == {}


def test_scan_reports_entity_declarations_in_utf16_cda() -> None:
    xml = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e SYSTEM '
           '"file:///etc/passwd">]><ClinicalDocument>&e;</ClinicalDocument>')
    assert found(encapsulated(xml.encode("utf-16"), "text/XML")) == {
        "CONTENT-CDA-ENTITY": Severity.MEDIUM}


@pytest.mark.parametrize(("payload", "rule", "severity"), [
    (ELF, "HIDDEN-EXECUTABLE", Severity.HIGH),
    (SHELL, "HIDDEN-EXECUTABLE", Severity.HIGH),
    (exe_zip(), "HIDDEN-EXECUTABLE", Severity.HIGH),  # a ZIP whose entry is an .exe
    (plain_zip(), "HIDDEN-ARCHIVE", Severity.LOW),
    (HTML, "HIDDEN-ACTIVE-CONTENT", Severity.HIGH),  # markup with <script>
    (b"<html><body>report</body></html>", "HIDDEN-ACTIVE-CONTENT", Severity.MEDIUM),
    (JS_PDF, "HIDDEN-DOCUMENT", Severity.LOW),
])
def test_scan_reports_payload_hidden_in_private_element(payload: bytes, rule: str,
                                                        severity: Severity) -> None:
    result = scan_bytes(with_private(payload))
    hit = [f for f in result.findings if f.id == rule and "(0009,1001)" in f.evidence]
    assert [f.severity for f in hit] == [severity]
    assert all("TEST^POLYGLOT" not in f.evidence and "PG-0001" not in f.evidence
               for f in result.findings)


def test_scan_reports_small_file_with_zip_in_an_element_as_opening_as_an_archive() -> None:
    import io
    import zipfile

    data = with_private(plain_zip())
    # ZIP tools search the last 64 KiB for the end record: in a small file that is all of it
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["notes.txt"]
    assert sorted((f.id, f.severity) for f in scan_bytes(data).findings) == [
        ("HIDDEN-ARCHIVE", Severity.LOW), ("HIDDEN-ARCHIVE", Severity.MEDIUM)]


def test_scan_finds_pdf_javascript_hidden_in_private_element() -> None:
    assert found(with_private(JS_PDF))["CONTENT-PDF-JAVASCRIPT"] is Severity.HIGH


@pytest.mark.parametrize("vr", ["OB", "UN"])
def test_scan_reports_executable_in_un_and_ob_public_values(vr: str) -> None:
    ds = base_dataset()
    ds.add_new(0x00282000, vr, ELF)  # ICC Profile, OB
    assert found(to_bytes(ds)) == {"HIDDEN-EXECUTABLE": Severity.HIGH}


def test_scan_reports_executable_in_implicit_vr_and_deflated_files() -> None:
    assert found(implicit_with(ELF)) == {"HIDDEN-EXECUTABLE": Severity.HIGH}
    result = scan_bytes(deflated_with(ELF))
    assert result.transfer_syntax == "1.2.840.10008.1.2.1.99"
    [f] = result.findings
    assert f.id == "HIDDEN-EXECUTABLE" and "inflated data set" in f.evidence


def test_scan_reports_executable_in_explicit_big_endian_file() -> None:
    ds = base_dataset(ts=ExplicitVRBigEndian)
    ds.add_new(0x00090010, "LO", "PACSGUARD TEST")
    ds.add_new(0x00091001, "OB", ELF)
    assert found(to_bytes(ds)) == {"HIDDEN-EXECUTABLE": Severity.HIGH}


def test_scan_reports_executable_in_private_sequence_item() -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = base_dataset()
    item = Dataset()
    item.add_new(0x00110010, "LO", "PACSGUARD TEST")
    item.add_new(0x00111001, "OB", ELF)
    ds.add_new(0x00091010, "SQ", Sequence([item]))
    ds.add_new(0x00090010, "LO", "PACSGUARD TEST")
    [f] = scan_bytes(to_bytes(ds)).findings
    assert f.id == "HIDDEN-EXECUTABLE" and "sequence item" in f.evidence


def test_scan_reports_executable_hidden_in_a_pixel_data_fragment() -> None:
    data = fragments(3)
    pe = bytearray(b"MZ" + bytes(0x3E) + b"PE\0\0" + b"\x4c\x01" + bytes(18))
    pe[0x3C:0x40] = (0x40).to_bytes(4, "little")
    body = (b"\xfe\xff\x00\xe0" + len(pe).to_bytes(4, "little") + bytes(pe))
    at = data.rindex(b"\xfe\xff\xdd\xe0")
    result = scan_bytes(data[:at] + body + data[at:])
    [f] = result.findings
    assert f.id == "HIDDEN-EXECUTABLE" and "fragment 4 of (7FE0,0010)" in f.evidence


def test_scan_reports_dicom_zip_polyglot_with_runnable_entry() -> None:
    import io
    import zipfile

    data = zip_polyglot()
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["setup.exe"]  # a real polyglot
    [f] = scan_bytes(data).findings
    assert f.id == "HIDDEN-EXECUTABLE" and "end-of-central-directory" in f.evidence


def test_scan_does_not_flag_gzip_compressed_private_data() -> None:
    import gzip

    # vendors store compressed protocol data privately (GE (0025,101B)); only an executable
    # inside the compression is a finding
    assert found(with_private(gzip.compress(b"<protocol>..." * 20))) == {}
    assert found(with_private(gzip.compress(ELF))) == {"HIDDEN-EXECUTABLE": Severity.HIGH}


def test_scan_does_not_inspect_native_pixel_data() -> None:
    ds = base_dataset()
    ds.PixelData = ELF  # pixel values are arbitrary bytes; they are not read at all
    assert found(to_bytes(ds)) == {}


def test_scan_pdf_search_stays_linear_on_a_hostile_pdf() -> None:
    import time

    # many 'stream' keywords, every one after a /Filter /FlateDecode, none ever ended
    hostile = b"%PDF-1.7\n" + b"<< /Filter /FlateDecode >> stream\n" * 60_000 + b"#4" * 100
    start = time.perf_counter()
    found(encapsulated(hostile))
    assert time.perf_counter() - start < 2.0


def test_scan_finds_zip_end_record_that_does_not_end_the_file() -> None:
    import io
    import zipfile

    from tests.scan.polyglots import plain_zip

    ds = base_dataset()
    value = plain_zip() + b"\x01" * 64  # pixel bytes after the archive: zipfile still opens it
    value += b"\0" * (len(value) % 2)
    ds.Rows, ds.Columns = 1, len(value)
    ds.PixelData = value
    data = to_bytes(ds)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["notes.txt"]
    [f] = scan_bytes(data).findings
    assert (f.id, f.severity) == ("HIDDEN-ARCHIVE", Severity.MEDIUM)
