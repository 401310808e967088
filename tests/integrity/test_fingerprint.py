"""Specification of the one-pass fingerprint of a DICOM file (pacsguard.integrity.fingerprint).

Every test works on copies of the real sample files (src/pacsguard/demo/samples) in tmp_path,
or on files written with pydicom; the originals are never touched.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from pacsguard.dicom.pixels import decoded_digest_of_file
from pacsguard.errors import DicomReadError
from pacsguard.integrity.fingerprint import Fingerprint, fingerprint_file
from pacsguard.integrity.status import Status, compare

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "pacsguard" / "demo" / "samples"
SAMPLE_FILES = sorted(SAMPLES.rglob("*.dcm"))
NATIVE_SAMPLES = ("pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm", "deid-data/RGB_IMAGE.dcm")
CTBRAIN1_BYTES = (SAMPLES / "deid-data" / "ctbrain1.dcm").read_bytes()


def copy_sample(rel: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / Path(rel).name
    shutil.copyfile(SAMPLES / rel, out)
    return out


def minimal_dataset() -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientID = "P1"
    return ds


def minimal_file_bytes() -> bytes:
    buf = io.BytesIO()
    minimal_dataset().save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def explicit_le_element(group: int, elem: int, vr: bytes, length: int) -> bytes:
    """An Explicit VR Little Endian element header with a 32-bit length (OB, SQ, UN...)."""
    return struct.pack("<HH", group, elem) + vr + b"\x00\x00" + struct.pack("<I", length)


# ---------------------------------------------------------------------------------------------
# every real sample
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_file_fingerprints_with_the_identity_pydicom_reads(
    sample: Path, tmp_path: Path
) -> None:
    path = copy_sample(str(sample.relative_to(SAMPLES)), tmp_path)
    data = path.read_bytes()
    ds = dcmread(path, stop_before_pixels=True)

    fp = fingerprint_file(path)

    assert fp.file_sha256 == hashlib.sha256(data).digest()
    assert fp.file_size == len(data)
    assert fp.sop_instance_uid == ds.SOPInstanceUID
    assert fp.sop_class_uid == ds.SOPClassUID
    assert fp.study_instance_uid == ds.StudyInstanceUID
    assert fp.series_instance_uid == ds.SeriesInstanceUID
    assert fp.transfer_syntax == ds.file_meta.TransferSyntaxUID
    assert fp.pixel_sha256 is not None and len(fp.pixel_sha256) == 32
    assert len(fp.header_sha256) == 32 and len(fp.clinical_sha256) == 32
    assert fp.equipment.modality == ds.Modality


def test_fingerprint_is_deterministic_and_differs_between_instances(tmp_path: Path) -> None:
    a = copy_sample("deid-data/GREYSCALE_IMAGE.dcm", tmp_path / "a")
    b = copy_sample("deid-data/RGB_IMAGE.dcm", tmp_path / "b")
    assert fingerprint_file(a) == fingerprint_file(a)
    fa, fb = fingerprint_file(a), fingerprint_file(b)
    assert fa.header_sha256 != fb.header_sha256
    assert fa.clinical_sha256 != fb.clinical_sha256
    assert fa.pixel_sha256 != fb.pixel_sha256


def test_decoded_pixel_digest_of_a_native_file_equals_what_pydicom_decodes(
    tmp_path: Path,
) -> None:
    for rel in NATIVE_SAMPLES:
        path = copy_sample(rel, tmp_path)
        assert fingerprint_file(path).decoded_pixel_sha256 == decoded_digest_of_file(path)


@pytest.mark.parametrize(
    ("rel", "manufacturer", "model", "software", "modality"),
    [
        ("deid-data/ctbrain1.dcm", "SIEMENS", "SOMATOM Definition AS+", ("syngo CT VA48A",),
         "CT"),
        ("pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm", "SIEMENS", "Avanto",
         ("syngo MR 2004V 4VB11D",), "MR"),
        ("deid-data/GREYSCALE_IMAGE.dcm", "Philips Medical Systems", "EPIQ 5G",
         ("EPIQ 5G_1.5.6.850",), "US"),
        ("pydicom-data/RG3_J2KI.dcm", "FUJI PHOTO FILM CO. LTD.", "IRS", (), "CR"),
        ("dcm4che/MR-JPEGLosslessSV1.dcm", "Philips Medical Systems", "Gyroscan NT Intera",
         ("NT 8.1.1", "1.3"), "MR"),
        ("dcm4che/CT-JPEGLosslessSV1.dcm", "Elscint", "", (), "CT"),
    ],
    ids=lambda v: v if isinstance(v, str) and v.endswith(".dcm") else "",
)
def test_equipment_facts_of_known_scanners(
    rel: str, manufacturer: str, model: str, software: tuple[str, ...], modality: str,
    tmp_path: Path,
) -> None:
    eq = fingerprint_file(copy_sample(rel, tmp_path)).equipment
    assert eq.manufacturer == manufacturer
    assert eq.model == model
    assert eq.software_versions == software
    assert eq.modality == modality


def test_multi_valued_software_versions_are_split_into_every_value(tmp_path: Path) -> None:
    path = copy_sample("pydicom-data/OBXXXX1A_rle.dcm", tmp_path)
    expected = tuple(str(v).strip() for v in dcmread(path).SoftwareVersions)
    eq = fingerprint_file(path).equipment
    assert len(expected) == 5
    assert eq.software_versions == expected
    assert eq.software_versions[0] == "CX50_210"
    assert eq.model == "CX50"


def test_station_serial_and_institution_are_read(tmp_path: Path) -> None:
    eq = fingerprint_file(copy_sample("deid-data/ctbrain1.dcm", tmp_path)).equipment
    assert eq.serial_number == "11223"
    assert eq.station_name == "SGHCT01A"
    assert eq.institution == "SGH SPRINGFIELD GENERAL HOSPITAL"


# ---------------------------------------------------------------------------------------------
# lossless transcoding keeps header, clinical and decoded-pixel digests
# ---------------------------------------------------------------------------------------------


def _transcode(src: Path, dst: Path, syntax: str) -> None:
    ds = dcmread(src)
    if syntax in (ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        ds.file_meta.TransferSyntaxUID = syntax
    else:
        ds.compress(syntax, generate_instance_uid=False)
    ds.save_as(dst, enforce_file_format=True)


_ENCODER_MODULE = {JPEGLSLossless: "jpeg_ls", JPEG2000Lossless: "openjpeg"}
_SYNTAXES = [ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, RLELossless,
             JPEGLSLossless, JPEG2000Lossless]


@pytest.mark.parametrize("syntax", _SYNTAXES, ids=lambda u: u.name)
@pytest.mark.parametrize("rel", NATIVE_SAMPLES, ids=lambda r: Path(r).name)
def test_lossless_transcoding_keeps_header_clinical_and_decoded_pixel_digests(
    rel: str, syntax: str, tmp_path: Path
) -> None:
    if syntax in _ENCODER_MODULE:
        pytest.importorskip(_ENCODER_MODULE[syntax])
    native = copy_sample(rel, tmp_path / "native")
    out = tmp_path / "out" / native.name
    out.parent.mkdir()
    _transcode(native, out, syntax)
    recorded = fingerprint_file(native)

    now = fingerprint_file(out)

    assert now.transfer_syntax == syntax
    assert now.sop_instance_uid == recorded.sop_instance_uid
    assert now.file_sha256 != recorded.file_sha256
    assert now.header_sha256 == recorded.header_sha256
    assert now.clinical_sha256 == recorded.clinical_sha256
    if syntax in (ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        assert now.pixel_sha256 == recorded.pixel_sha256
        assert now.decoded_pixel_sha256 == recorded.decoded_pixel_sha256
    else:
        assert now.pixel_sha256 != recorded.pixel_sha256
        assert decoded_digest_of_file(out) == recorded.decoded_pixel_sha256
    status, detail = compare(recorded, {}, now, out)
    assert status is Status.INTACT
    assert "losslessly transcoded" in detail


def test_rle_transcoding_of_an_altered_image_is_not_intact(tmp_path: Path) -> None:
    native = copy_sample(NATIVE_SAMPLES[0], tmp_path / "native")
    recorded = fingerprint_file(native)
    ds = dcmread(native)
    arr = ds.pixel_array.copy()
    arr[10, 10] += 1
    ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    ds.compress(RLELossless, generate_instance_uid=False)
    out = tmp_path / "altered.dcm"
    ds.save_as(out, enforce_file_format=True)

    status, detail = compare(recorded, {}, fingerprint_file(out), out)

    assert status is Status.PIXELS_ALTERED
    assert "decoded pixels differ" in detail


def _with_private_sequence(src: Path, dst: Path, syntax: str, undefined: bool) -> None:
    """``src`` plus a private sequence (one item), saved in ``syntax`` with the given lengths."""
    ds = dcmread(src)
    block = ds.private_block(0x0029, "ACME 1.0", create=True)
    item = Dataset()
    item.CodeValue, item.CodeMeaning = "X1", "example"
    block.add_new(0x40, "SQ", Sequence([item]))
    elem = ds[block.get_tag(0x40)]
    elem.is_undefined_length = undefined
    item.is_undefined_length_sequence_item = undefined
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(dst, enforce_file_format=True)


def test_implicit_vr_transcoding_with_undefined_length_private_sequence_keeps_header_digest(
    tmp_path: Path,
) -> None:
    explicit, implicit = tmp_path / "explicit.dcm", tmp_path / "implicit.dcm"
    _with_private_sequence(SAMPLES / NATIVE_SAMPLES[0], explicit, ExplicitVRLittleEndian, True)
    _with_private_sequence(SAMPLES / NATIVE_SAMPLES[0], implicit, ImplicitVRLittleEndian, True)
    assert fingerprint_file(implicit).header_sha256 == fingerprint_file(explicit).header_sha256


def test_implicit_vr_transcoding_with_defined_length_private_sequence_keeps_header_digest(
    tmp_path: Path,
) -> None:
    explicit, implicit = tmp_path / "explicit.dcm", tmp_path / "implicit.dcm"
    _with_private_sequence(SAMPLES / NATIVE_SAMPLES[0], explicit, ExplicitVRLittleEndian, False)
    _with_private_sequence(SAMPLES / NATIVE_SAMPLES[0], implicit, ImplicitVRLittleEndian, False)
    recorded, now = fingerprint_file(explicit), fingerprint_file(implicit)
    assert now.header_sha256 == recorded.header_sha256
    assert compare(recorded, {}, now, implicit)[0] is Status.INTACT


def test_decoded_digest_of_a_deflated_file_equals_the_native_files(tmp_path: Path) -> None:
    # regression: pydicom's pixel_array(path) cannot inflate a deflated data set
    native = copy_sample(NATIVE_SAMPLES[0], tmp_path / "native")
    out = tmp_path / "deflated.dcm"
    _transcode(native, out, DeflatedExplicitVRLittleEndian)
    assert decoded_digest_of_file(out) == fingerprint_file(native).decoded_pixel_sha256


# ---------------------------------------------------------------------------------------------
# what a change changes
# ---------------------------------------------------------------------------------------------


def test_resaving_with_pydicom_unchanged_keeps_every_content_digest(tmp_path: Path) -> None:
    path = copy_sample(NATIVE_SAMPLES[0], tmp_path)
    before = fingerprint_file(path)
    dcmread(path).save_as(tmp_path / "resaved.dcm", enforce_file_format=True)
    after = fingerprint_file(tmp_path / "resaved.dcm")
    assert (after.header_sha256, after.clinical_sha256, after.pixel_sha256) == (
        before.header_sha256, before.clinical_sha256, before.pixel_sha256)


def test_changed_patient_id_changes_clinical_and_header_digest_but_not_pixels(
    tmp_path: Path,
) -> None:
    path = copy_sample(NATIVE_SAMPLES[0], tmp_path)
    before = fingerprint_file(path)
    ds = dcmread(path)
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(path)

    after = fingerprint_file(path)

    assert after.sop_instance_uid == before.sop_instance_uid
    assert after.file_sha256 != before.file_sha256
    assert after.clinical_sha256 != before.clinical_sha256
    assert after.header_sha256 != before.header_sha256
    assert after.pixel_sha256 == before.pixel_sha256
    assert after.decoded_pixel_sha256 == before.decoded_pixel_sha256


def test_changed_station_name_changes_header_digest_only(tmp_path: Path) -> None:
    path = copy_sample(NATIVE_SAMPLES[0], tmp_path)
    before = fingerprint_file(path)
    ds = dcmread(path)
    ds.StationName = "ELSEWHERE"
    ds.save_as(path)

    after = fingerprint_file(path)

    assert after.header_sha256 != before.header_sha256
    assert after.clinical_sha256 == before.clinical_sha256
    assert after.pixel_sha256 == before.pixel_sha256
    assert after.equipment.station_name == "ELSEWHERE"


def test_changed_native_pixel_byte_changes_pixel_digest_only(tmp_path: Path) -> None:
    path = copy_sample(NATIVE_SAMPLES[0], tmp_path)
    assert list(dcmread(path).keys())[-1] == 0x7FE00010  # pixel data is the last element
    before = fingerprint_file(path)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))

    after = fingerprint_file(path)

    assert after.file_sha256 != before.file_sha256
    assert after.pixel_sha256 != before.pixel_sha256
    assert after.decoded_pixel_sha256 != before.decoded_pixel_sha256
    assert after.header_sha256 == before.header_sha256
    assert after.clinical_sha256 == before.clinical_sha256


def test_changed_byte_inside_a_compressed_fragment_changes_pixel_digest_only(
    tmp_path: Path,
) -> None:
    path = copy_sample("deid-data/ctbrain1.dcm", tmp_path)
    before = fingerprint_file(path)
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x01  # inside the last fragment; the final 8 bytes are the delimiter
    path.write_bytes(bytes(data))

    after = fingerprint_file(path)

    assert after.pixel_sha256 != before.pixel_sha256
    assert after.file_sha256 != before.file_sha256
    assert after.header_sha256 == before.header_sha256
    assert after.clinical_sha256 == before.clinical_sha256


def test_attribute_digests_are_keyed_and_differ_only_for_the_changed_attribute(
    tmp_path: Path,
) -> None:
    path = copy_sample(NATIVE_SAMPLES[0], tmp_path)
    key, other_key = b"k" * 32, b"o" * 32
    before = dict(fingerprint_file(path, attr_key=key).clinical_attrs)
    assert fingerprint_file(path).clinical_attrs == ()
    assert dict(fingerprint_file(path, attr_key=other_key).clinical_attrs) != before
    ds = dcmread(path)
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(path)

    after = dict(fingerprint_file(path, attr_key=key).clinical_attrs)

    assert {t for t in before if before[t] != after.get(t)} == {0x00100020}


# ---------------------------------------------------------------------------------------------
# bad input: one DicomReadError naming the file and the reason
# ---------------------------------------------------------------------------------------------


def _expect_read_error(path: Path, *words: str) -> str:
    with pytest.raises(DicomReadError) as info:
        fingerprint_file(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message.lower(), message
    return message


def test_zero_byte_file_is_reported_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    _expect_read_error(path, "empty")


def test_text_file_is_reported_not_dicom(tmp_path: Path) -> None:
    path = tmp_path / "notes.dcm"
    path.write_text("Radiology report: no acute findings.\n" * 20)
    _expect_read_error(path, "not a dicom")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.05])
def test_truncated_real_file_is_reported_truncated(keep: float, tmp_path: Path) -> None:
    path = copy_sample("deid-data/ctbrain1.dcm", tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    _expect_read_error(path, "truncated")


def test_element_claiming_four_gigabytes_is_reported_without_reading_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "absurd.dcm"
    path.write_bytes(minimal_file_bytes() + explicit_le_element(0x0009, 0x1010, b"OB", 0xFFFFFFF0)
                     + b"\x00" * 64)
    message = _expect_read_error(path, "truncated")
    assert str(0xFFFFFFF0 - 64) in message  # says how many bytes the element claimed


def test_element_claiming_more_than_its_item_holds_is_reported(tmp_path: Path) -> None:
    inner = explicit_le_element(0x0009, 0x1010, b"OB", 2 << 20) + b"\x00" * 16
    item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
    seq = explicit_le_element(0x0008, 0x1140, b"SQ", len(item)) + item
    path = tmp_path / "item.dcm"
    path.write_bytes(minimal_file_bytes() + seq)
    _expect_read_error(path, "claims", "more than its item holds")


def test_file_meta_element_with_absurd_length_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "meta.dcm"
    path.write_bytes(b"\x00" * 128 + b"DICM" + explicit_le_element(0x0002, 0x0001, b"OB",
                                                                    0xFFFFFFF0))
    _expect_read_error(path, "absurd length")


def test_file_meta_without_transfer_syntax_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "nots.dcm"
    path.write_bytes(b"\x00" * 128 + b"DICM" + b"\x08\x00\x18\x00UI\x04\x001.2\x00")
    _expect_read_error(path, "transfer syntax")


def test_sequences_nested_forty_deep_are_refused_as_hostile(tmp_path: Path) -> None:
    ds = minimal_dataset()
    cur = ds
    for _ in range(40):
        inner = Dataset()
        cur.ReferencedImageSequence = Sequence([inner])
        cur = inner
    cur.ReferencedSOPInstanceUID = generate_uid()
    path = tmp_path / "nested.dcm"
    ds.save_as(path, enforce_file_format=True)
    _expect_read_error(path, "nested")


def test_sequences_nested_five_deep_are_fine(tmp_path: Path) -> None:
    ds = minimal_dataset()
    cur = ds
    for _ in range(5):
        inner = Dataset()
        cur.ReferencedImageSequence = Sequence([inner])
        cur = inner
    path = tmp_path / "nested.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert fingerprint_file(path).sop_instance_uid == ds.SOPInstanceUID


def test_file_without_sop_instance_uid_is_not_a_storable_instance(tmp_path: Path) -> None:
    ts = b"1.2.840.10008.1.2.1\x00"
    path = tmp_path / "nouid.dcm"
    path.write_bytes(b"\x00" * 128 + b"DICM"
                     + b"\x02\x00\x10\x00UI" + struct.pack("<H", len(ts)) + ts
                     + b"\x08\x00\x20\x00DA\x08\x0020260101"
                     + b"\x10\x00\x20\x00LO\x02\x00P1")
    _expect_read_error(path, "sop instance uid")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_reported_permission_denied(tmp_path: Path) -> None:
    path = copy_sample("deid-data/ctbrain1.dcm", tmp_path)
    path.chmod(0)
    try:
        _expect_read_error(path, "permission denied")
    finally:
        path.chmod(0o644)


def test_directory_in_place_of_a_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "image.dcm"
    path.mkdir()
    _expect_read_error(path, "directory")


def test_missing_file_is_reported_cannot_be_read(tmp_path: Path) -> None:
    _expect_read_error(tmp_path / "gone.dcm", "cannot be read")


# ---------------------------------------------------------------------------------------------
# fuzzing: nothing but DicomReadError ever escapes
# ---------------------------------------------------------------------------------------------

_FUZZ = settings(max_examples=200, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])


def _only_dicom_read_error(data: bytes) -> Fingerprint | None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.dcm"
        path.write_bytes(data)
        try:
            return fingerprint_file(path)
        except DicomReadError as exc:
            assert str(path) in str(exc)
            return None


@_FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_raise_only_dicom_read_error(data: bytes) -> None:
    _only_dicom_read_error(data)


@_FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_after_a_dicm_preamble_raise_only_dicom_read_error(data: bytes) -> None:
    _only_dicom_read_error(b"\x00" * 128 + b"DICM" + data)


@_FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(CTBRAIN1_BYTES) - 1), st.integers(0, 255)),
             min_size=1, max_size=12),
    st.integers(0, len(CTBRAIN1_BYTES)),
)
def test_mutated_and_truncated_real_file_raises_only_dicom_read_error(
    changes: list[tuple[int, int]], keep: int
) -> None:
    data = bytearray(CTBRAIN1_BYTES)
    for pos, value in changes:
        data[pos] = value
    fp = _only_dicom_read_error(bytes(data[:keep]))
    if fp is not None:
        assert fp.file_sha256 == hashlib.sha256(bytes(data[:keep])).digest()


@_FUZZ
@given(st.integers(132, 1400), st.binary(min_size=1, max_size=16))
def test_bytes_spliced_into_the_header_raise_only_dicom_read_error(
    pos: int, junk: bytes
) -> None:
    _only_dicom_read_error(CTBRAIN1_BYTES[:pos] + junk + CTBRAIN1_BYTES[pos:])


def test_native_pixel_data_shorter_than_geometry_still_fingerprints(tmp_path: Path) -> None:
    ds = minimal_dataset()
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.zeros(16, dtype="<u2").tobytes()  # 32 bytes, geometry says 128
    path = tmp_path / "short.dcm"
    ds.save_as(path, enforce_file_format=True)
    fp = fingerprint_file(path)
    assert fp.pixel_sha256 == hashlib.sha256(bytes(32)).digest()
    assert fp.decoded_pixel_sha256 is None
