"""What archives really do to stored images, and the verdicts it must (not) get (issue #10 §1, §2).

Every real scanner file shipped with pacsguard and every test file that comes with pydicom is
recorded as ``pacsguard record`` records it (fingerprint plus the decoded digests it adds by
default), transcoded in place by dcmtk's own tools (and pydicom's JPEG 2000 lossless encoder:
Debian's dcmtk has no dcmcjp2k), alone and in chains of two, and compared as ``pacsguard verify``
compares. A lossless transcode must be ``intact``. The only other verdict allowed is
``needs_review``, and only where no digest can decide: the original was lossy and the archive's
decoder, not ours, decoded it; or pydicom could not decode the original when it was recorded.
A lossy transcode of a native image must be ``pixels_altered``.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom import dcmread
from pydicom.uid import JPEG2000Lossless

from pacsguard.errors import DicomReadError
from pacsguard.integrity.fingerprint import Fingerprint, complete_decoded, fingerprint_file
from pacsguard.integrity.profile import DEFAULT_PROFILE
from pacsguard.integrity.status import Status, compare
from tests.peers import need

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "pacsguard" / "demo" / "samples"
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
KEY = b"k" * 32

#: name -> the steps, each a command taking "IN OUT" (or "pydicom-j2k")
TRANSCODERS: dict[str, list[list[str]]] = {
    "dcmconv +ti": [["dcmconv", "+ti"]],
    "dcmconv +te": [["dcmconv", "+te"]],
    "dcmconv +tb": [["dcmconv", "+tb"]],
    "dcmcjpls": [["dcmcjpls"]],
    "dcmdjpls": [["dcmdjpls"]],
    "dcmcrle": [["dcmcrle"]],
    "dcmdrle": [["dcmdrle"]],
    "dcmcjpeg +e1": [["dcmcjpeg", "+e1"]],
    "dcmdjpeg": [["dcmdjpeg"]],
    "pydicom JPEG 2000 lossless": [["pydicom-j2k"]],
    "dcmconv +ti, dcmconv +te": [["dcmconv", "+ti"], ["dcmconv", "+te"]],
    "dcmcjpls, dcmdjpls": [["dcmcjpls"], ["dcmdjpls"]],
    "dcmcrle, dcmdrle": [["dcmcrle"], ["dcmdrle"]],
    "dcmcjpeg +e1, dcmdjpeg": [["dcmcjpeg", "+e1"], ["dcmdjpeg"]],
    "dcmconv +ti, dcmcjpls": [["dcmconv", "+ti"], ["dcmcjpls"]],
    "dcmconv +tb, dcmcrle": [["dcmconv", "+tb"], ["dcmcrle"]],
    "dcmcjpls, pydicom JPEG 2000 lossless": [["dcmcjpls"], ["pydicom-j2k"]],
}
LOSSY = [["dcmcjpeg", "+eb", "+un"]]  # JPEG baseline, SOP Instance UID kept
#: pydicom's deliberately invalid files whose *values* dcmtk repairs as it writes (a real change)
NOT_IN_CORPUS = {
    "badVR.dcm": "Number of Frames '1A' and other invalid values, rewritten by dcmtk",
}


@dataclass(frozen=True)
class Original:
    path: Path
    recorded: Fingerprint
    undecodable: str  # why record could not add a decoded digest ("" when it could)


def _is_dicom(p: Path) -> bool:
    try:
        with p.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _corpus() -> list[Original]:
    out = []
    paths = sorted(SAMPLES.rglob("*.dcm")) + sorted(
        p for p in PYDICOM_FILES.rglob("*") if p.is_file() and _is_dicom(p))
    for p in paths:
        if p.name in NOT_IN_CORPUS:
            continue
        try:
            fp = fingerprint_file(p, DEFAULT_PROFILE, KEY)
        except DicomReadError:
            continue  # files pacsguard reports as corrupted (truncated, no UID…): not recordable
        fp, note = complete_decoded(fp, p, DEFAULT_PROFILE)
        out.append(Original(p, fp, note))
    return out


@pytest.fixture(scope="module")
def corpus() -> list[Original]:
    for tool in ("dcmconv", "dcmcjpls", "dcmdjpls", "dcmcrle", "dcmdrle", "dcmcjpeg",
                 "dcmdjpeg"):
        need(tool)
    found = _corpus()
    assert len(found) > 150  # the real files and pydicom's: the test means nothing on fewer
    return found


def _j2k(src: Path, dst: Path) -> bool:
    try:
        ds = dcmread(src)
        if ds.file_meta.TransferSyntaxUID.is_compressed:  # as an archive would: decode first
            ds.decompress(generate_instance_uid=False, as_rgb=False)
        ds.compress(JPEG2000Lossless, generate_instance_uid=False)
        ds.save_as(dst, enforce_file_format=True)
    except Exception:  # the encoder refuses what it cannot encode, as dcmtk does
        return False
    return True


def _transcode(src: Path, steps: list[list[str]], work: Path) -> Path | None:
    """Apply ``steps`` to a copy of ``src``; None when a tool refuses the file."""
    current = work / "in.dcm"
    shutil.copyfile(src, current)
    for i, step in enumerate(steps):
        out = work / f"step{i}.dcm"
        out.unlink(missing_ok=True)
        if step == ["pydicom-j2k"]:
            if not _j2k(current, out):
                return None
        else:
            done = subprocess.run([*step, str(current), str(out)], capture_output=True,
                                  timeout=60)
            if done.returncode != 0 or not out.exists():
                return None
        current = out
    return current


def _allowed_review(o: Original, detail: str) -> bool:
    """needs_review where no digest can decide, and only there."""
    return ("the original was lossy" in detail
            or (bool(o.undecodable) and "recorded without a decoded-pixel digest" in detail)
            or (bool(o.undecodable) and "native pixel layout was recorded without" in detail))


@pytest.mark.parametrize("name", list(TRANSCODERS))
def test_lossless_transcode_of_every_real_and_pydicom_test_file_verifies_intact(
    corpus: list[Original], name: str, tmp_path: Path,
) -> None:
    wrong: list[str] = []
    transcoded = 0
    for o in corpus:
        out = _transcode(o.path, TRANSCODERS[name], tmp_path)
        if out is None:
            continue
        transcoded += 1
        now = fingerprint_file(out, DEFAULT_PROFILE, KEY)
        status, detail = compare(o.recorded, dict(o.recorded.clinical_attrs), now, out,
                                 DEFAULT_PROFILE)
        if status is Status.INTACT:
            continue
        if status is Status.NEEDS_REVIEW and _allowed_review(o, detail):
            continue
        wrong.append(f"{o.path.name}: {status.value}: {detail}")
    assert transcoded >= 12, f"{name} transcoded only {transcoded} files"
    assert not wrong, f"{len(wrong)} false alarms after {name}:\n" + "\n".join(wrong)


def test_lossy_transcode_of_every_native_image_is_pixels_altered(
    corpus: list[Original], tmp_path: Path,
) -> None:
    wrong: list[str] = []
    transcoded = 0
    for o in corpus:
        if not o.recorded.has_pixels or o.recorded.compressed:
            continue
        out = _transcode(o.path, LOSSY, tmp_path)
        if out is None:
            continue
        now = fingerprint_file(out, DEFAULT_PROFILE, KEY)
        if now.pixel_sha256 == o.recorded.pixel_sha256:
            continue  # dcmcjpeg declined to compress (it copies what it cannot encode)
        transcoded += 1
        status, detail = compare(o.recorded, dict(o.recorded.clinical_attrs), now, out,
                                 DEFAULT_PROFILE)
        if status is not Status.PIXELS_ALTERED:
            wrong.append(f"{o.path.name}: {status.value}: {detail}")
    assert transcoded >= 30
    assert not wrong, "lossy transcodes not reported:\n" + "\n".join(wrong)


# ---------------------------------------------------------------------------------------------
# Each class the trial of issue #10 found, on its own
# ---------------------------------------------------------------------------------------------


def _verdict(original: Path, current: Path, decode: bool = True) -> tuple[Status, str]:
    """Record ``original`` as ``record`` does (``decode``: its default), compare ``current``."""
    recorded = fingerprint_file(original, DEFAULT_PROFILE, KEY)
    if decode:
        recorded, _ = complete_decoded(recorded, original, DEFAULT_PROFILE)
    now = fingerprint_file(current, DEFAULT_PROFILE, KEY)
    return compare(recorded, dict(recorded.clinical_attrs), now, current, DEFAULT_PROFILE)


def _dcmtk(src: Path, tmp_path: Path, *steps: list[str]) -> Path:
    for tool in {step[0] for step in steps}:
        need(tool)
    out = _transcode(src, list(steps), tmp_path)
    assert out is not None, f"{steps} refused {src.name}"
    return out


@pytest.mark.parametrize("name", ["test-SR.dcm", "waveform_ecg.dcm", "rtplan.dcm",
                                  "dicomdirtests/DICOMDIR"])
def test_object_without_pixel_data_is_intact_after_explicit_to_implicit(
    name: str, tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / name
    out = _dcmtk(original, tmp_path, ["dcmconv", "+ti"])
    assert fingerprint_file(out).pixel_sha256 is None

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail


def test_pixel_data_added_to_an_object_that_had_none_is_pixels_altered(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "test-SR.dcm"
    ds = dcmread(original)
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 2, 2, 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x01\x02\x03\x04"
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "sr.dcm")

    status, detail = _verdict(original, tmp_path / "sr.dcm")

    assert status is Status.PIXELS_ALTERED
    assert "pixel data was added" in detail


@pytest.mark.parametrize("name", ["liver_1frame.dcm", "liver_expb_1frame.dcm"])
def test_one_bit_segmentation_is_intact_after_a_change_of_transfer_syntax(
    name: str, tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / name
    assert dcmread(original, stop_before_pixels=True).BitsAllocated == 1
    out = _dcmtk(original, tmp_path, ["dcmconv", "+ti"])

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail
    assert "decoded pixels match" in detail or "losslessly transcoded" in detail


def test_one_bit_segmentation_with_one_bit_flipped_is_pixels_altered(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "liver_1frame.dcm"
    out = _dcmtk(original, tmp_path, ["dcmconv", "+ti"])
    ds = dcmread(out)
    data = bytearray(ds.PixelData)
    data[len(data) // 2] ^= 0x10
    ds.PixelData = bytes(data)
    ds.save_as(out)

    status, detail = _verdict(original, out)

    assert status is Status.PIXELS_ALTERED, detail


@pytest.mark.parametrize("name, step", [
    ("SC_rgb_small_odd_big_endian.dcm", ["dcmconv", "+ti"]),
    ("SC_rgb_small_odd_big_endian.dcm", ["dcmconv", "+te"]),
    ("SC_rgb_small_odd.dcm", ["dcmconv", "+tb"]),
    ("MR_small_bigendian.dcm", ["dcmconv", "+te"]),
    ("rtdose_expb.dcm", ["dcmconv", "+ti"]),  # 32-bit samples in OW: swapped by 16-bit words
])
def test_big_endian_pixel_data_is_intact_after_conversion(
    name: str, step: list[str], tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / name
    out = _dcmtk(original, tmp_path, step)

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail


def test_big_endian_8_bit_ow_pixels_read_as_pydicom_reads_them() -> None:
    original = PYDICOM_FILES / "SC_rgb_small_odd_big_endian.dcm"
    little = PYDICOM_FILES / "SC_rgb_small_odd.dcm"
    ds = dcmread(original, stop_before_pixels=True)
    assert (ds.file_meta.TransferSyntaxUID, ds.BitsAllocated) == ("1.2.840.10008.1.2.2", 8)

    assert fingerprint_file(original).decoded_pixel_sha256 == \
        fingerprint_file(little).decoded_pixel_sha256


def test_icon_recompressed_by_a_lossless_codec_is_intact(tmp_path: Path) -> None:
    original = SAMPLES / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    assert "IconImageSequence" in dcmread(original, stop_before_pixels=True)
    out = _dcmtk(original, tmp_path, ["dcmcjpls"])
    assert dcmread(out).IconImageSequence[0]["PixelData"].is_undefined_length  # re-encoded

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail
    assert "icon re-encoded" in detail


def test_icon_with_changed_pixels_is_header_altered_after_a_lossless_transcode(
    tmp_path: Path,
) -> None:
    original = SAMPLES / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    ds = dcmread(original)
    icon = bytearray(ds.IconImageSequence[0].PixelData)
    icon[100] ^= 0xFF
    ds.IconImageSequence[0].PixelData = bytes(icon)
    ds.save_as(tmp_path / "edited.dcm")
    out = _dcmtk(tmp_path / "edited.dcm", tmp_path, ["dcmcjpls"])

    status, detail = _verdict(original, out)

    assert status is Status.HEADER_ALTERED
    assert "icon" in detail


def test_derivation_description_added_by_lossless_jpeg_is_intact(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    out = _dcmtk(original, tmp_path, ["dcmcjpeg", "+e1"])
    assert "DerivationDescription" in dcmread(out, stop_before_pixels=True)

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail


def _edited(src: Path, dst: Path, **attrs: object) -> Path:
    ds = dcmread(src)
    for keyword, value in attrs.items():
        if value is None:
            del ds[keyword]
        else:
            setattr(ds, keyword, value)
    ds.save_as(dst)
    return dst


def test_planar_configuration_changed_over_the_same_pixels_is_pixels_altered(
    tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / "SC_rgb_small_odd.dcm"
    out = _edited(original, tmp_path / "planar.dcm", PlanarConfiguration=1)

    status, detail = _verdict(original, out)

    assert status is Status.PIXELS_ALTERED
    assert "Planar Configuration" in detail


def test_monochrome1_for_monochrome2_is_pixels_altered(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    out = _edited(original, tmp_path / "inverted.dcm", PhotometricInterpretation="MONOCHROME1")

    status, detail = _verdict(original, out)

    assert status is Status.PIXELS_ALTERED
    assert "MONOCHROME2 to MONOCHROME1" in detail


def test_lossy_image_compression_added_as_00_is_intact(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    assert "LossyImageCompression" not in dcmread(original, stop_before_pixels=True)
    out = _edited(original, tmp_path / "flag.dcm", LossyImageCompression="00")

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail


@pytest.mark.parametrize("now", [None, "00"])
def test_lossy_image_compression_01_removed_is_header_altered(
    now: str | None, tmp_path: Path,
) -> None:
    original = _edited(PYDICOM_FILES / "CT_small.dcm", tmp_path / "was-lossy.dcm",
                       LossyImageCompression="01")
    out = _edited(original, tmp_path / "hidden.dcm", LossyImageCompression=now)

    status, detail = _verdict(original, out)

    assert status is Status.HEADER_ALTERED
    assert "record of lossy compression was removed" in detail


def test_losslessly_compressed_original_decompressed_by_dcmtk_is_intact_by_default(
    tmp_path: Path,
) -> None:
    original = SAMPLES / "dcm4che" / "MR-JPEGLosslessSV1.dcm"
    out = _dcmtk(original, tmp_path, ["dcmdjpeg"])

    assert _verdict(original, out)[0] is Status.INTACT
    status, detail = _verdict(original, out, decode=False)  # recorded with --no-decode
    assert status is Status.NEEDS_REVIEW
    assert "JPEG Lossless" in detail and "recorded without a decoded-pixel digest" in detail


def test_native_original_without_decoded_digest_is_not_called_compressed(
    tmp_path: Path,
) -> None:
    # a native original recorded without a decoded digest (pacsguard has no canonical form for
    # subsampled native layouts, and pydicom may fail to decode one): say so, not "compressed"
    original = PYDICOM_FILES / "CT_small.dcm"
    recorded = dataclasses.replace(fingerprint_file(original, DEFAULT_PROFILE, KEY),
                                   decoded_pixel_sha256=None)
    out = _dcmtk(original, tmp_path, ["dcmcrle"])

    status, detail = compare(recorded, dict(recorded.clinical_attrs),
                             fingerprint_file(out, DEFAULT_PROFILE, KEY), out, DEFAULT_PROFILE)

    assert status is Status.NEEDS_REVIEW
    assert "compressed" not in detail
    assert "native pixel layout was recorded without a decoded digest" in detail


def test_lossy_transcode_with_the_uid_kept_is_pixels_altered(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    out = _dcmtk(original, tmp_path, LOSSY[0])
    assert dcmread(out, stop_before_pixels=True).SOPInstanceUID == \
        dcmread(original, stop_before_pixels=True).SOPInstanceUID

    status, detail = _verdict(original, out)

    assert status is Status.PIXELS_ALTERED
    assert "decoded pixels differ" in detail


def test_lossy_original_decoded_by_the_archive_needs_review_not_an_alarm(
    tmp_path: Path,
) -> None:
    original = SAMPLES / "deid-data" / "ctbrain1.dcm"  # Siemens CT, JPEG baseline
    out = _dcmtk(original, tmp_path, ["dcmdjpeg"])

    status, detail = _verdict(original, out)

    assert status is Status.NEEDS_REVIEW, detail
    assert "the original was lossy" in detail


# ---------------------------------------------------------------------------------------------
# value representations (issue #10 §2)
# ---------------------------------------------------------------------------------------------


def _with_vr(src: Path, dst: Path, tag: bytes, old: bytes, new: bytes) -> Path:
    data = bytearray(src.read_bytes())
    at = data.find(tag + old)
    assert at > 0, "element not found with its VR"
    data[at + 4 : at + 6] = new
    dst.write_bytes(bytes(data))
    return dst


def test_vr_changed_from_ui_to_ul_is_header_altered(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    out = _with_vr(original, tmp_path / "ul.dcm", b"\x08\x00\x18\x00", b"UI", b"UL")

    status, detail = _verdict(original, out)

    assert status is Status.HEADER_ALTERED
    assert "(0008,0018) SOPInstanceUID written as UL" in detail


def test_vr_changed_in_an_item_is_header_altered(tmp_path: Path) -> None:
    original = SAMPLES / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    # (0028,0010) Rows inside the icon item: US read as SS is the same for small values, but
    # US read as FL is not
    data = original.read_bytes()
    icon = data.find(b"\x88\x00\x00\x02SQ")
    assert icon > 0
    rows = data.find(b"\x28\x00\x10\x00US", icon)
    out = tmp_path / "fl.dcm"
    out.write_bytes(data[: rows + 4] + b"AT" + data[rows + 6 :])

    status, detail = _verdict(original, out)

    assert status is Status.HEADER_ALTERED
    assert "(0028,0010) Rows in 00880200[0] written as AT" in detail


def test_vr_changed_to_a_code_that_is_no_vr_is_corrupted(tmp_path: Path) -> None:
    out = _with_vr(PYDICOM_FILES / "CT_small.dcm", tmp_path / "qq.dcm", b"\x08\x00\x18\x00",
                   b"UI", b"QQ")

    with pytest.raises(DicomReadError, match=r"\(0008,0018\) has b'QQ'.*not a DICOM VR"):
        fingerprint_file(out)


@pytest.mark.parametrize("tag, old, new", [
    (b"\xe0\x7f\x10\x00", b"OW", b"OB"),  # Pixel Data: OB or OW
    (b"\x08\x00\x20\x00", b"DA", b"LO"),  # a string read as the same characters
    (b"\x20\x00\x13\x00", b"IS", b"DS"),  # Instance Number: a number written as text alike
])
def test_vrs_that_read_the_value_alike_stay_intact(
    tag: bytes, old: bytes, new: bytes, tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    out = _with_vr(original, tmp_path / "alike.dcm", tag, old, new)

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail


# ---------------------------------------------------------------------------------------------
# entries recorded before fingerprint version 2 keep their meaning
# ---------------------------------------------------------------------------------------------


def _version_1_entry(path: Path) -> bytes:
    """The bytes ``pacsguard-entry/1`` gave the file (its header digest as version 1 made it)."""
    from pacsguard.integrity.entry import FIELDS_V1, MAGIC_V1
    from pacsguard.integrity.fingerprint import legacy_header_digest

    fp = fingerprint_file(path, DEFAULT_PROFILE, KEY)
    eq = fp.equipment
    values = [b"record", fp.sop_class_uid.encode(), fp.sop_instance_uid.encode(),
              fp.study_instance_uid.encode(), fp.series_instance_uid.encode(),
              fp.transfer_syntax.encode(), str(fp.file_size).encode(), fp.file_sha256,
              fp.pixel_sha256 or b"", fp.decoded_pixel_sha256 or b"",
              legacy_header_digest(path, DEFAULT_PROFILE), fp.clinical_sha256,
              fp.header_profile.encode(), eq.manufacturer.encode(), eq.model.encode(),
              "\\".join(eq.software_versions).encode(), eq.serial_number.encode(),
              eq.station_name.encode(), eq.institution.encode(), eq.modality.encode(),
              b"2026-11-01T00:00:00Z", b"", b""]
    assert len(values) == len(FIELDS_V1)
    return MAGIC_V1 + struct.pack(">23I", *map(len, values)) + b"".join(values)


@pytest.mark.parametrize("name, step", [
    ("CT_small.dcm", ["dcmconv", "+ti"]),
    ("SC_rgb_small_odd.dcm", ["dcmcrle"]),  # Planar Configuration is in version 1's header
])
def test_version_1_entries_still_verify_a_lossless_transcode_intact(
    name: str, step: list[str], tmp_path: Path,
) -> None:
    from pacsguard.integrity.entry import LedgerEntry

    original = PYDICOM_FILES / name
    recorded = LedgerEntry.decode(_version_1_entry(original)).fingerprint
    assert recorded.version == 1
    assert recorded.header_sha256 != fingerprint_file(original).header_sha256 or \
        name == "CT_small.dcm"
    out = _dcmtk(original, tmp_path, step)

    status, detail = compare(recorded, {}, fingerprint_file(out, DEFAULT_PROFILE, KEY), out,
                             DEFAULT_PROFILE)

    assert status is Status.INTACT, detail


def test_version_1_entry_still_catches_a_changed_header(tmp_path: Path) -> None:
    from pacsguard.integrity.entry import LedgerEntry

    original = PYDICOM_FILES / "SC_rgb_small_odd.dcm"
    recorded = LedgerEntry.decode(_version_1_entry(original)).fingerprint
    out = _edited(original, tmp_path / "edited.dcm", DerivationDescription="edited",
                  ImageComments="not what was recorded")

    status, detail = compare(recorded, {}, fingerprint_file(out, DEFAULT_PROFILE, KEY), out,
                             DEFAULT_PROFILE)

    assert status is Status.HEADER_ALTERED, detail


# ---------------------------------------------------------------------------------------------
# found by review: each a reproducer that failed before its fix
# ---------------------------------------------------------------------------------------------


def test_a_decoder_that_panics_gives_a_verdict_not_a_crash(tmp_path: Path) -> None:
    # pylibjpeg-rle panics (pyo3 PanicException, a BaseException) on these five bytes; it used
    # to end the whole verify run with a traceback
    original = PYDICOM_FILES / "rtdose_rle.dcm"
    damaged = bytearray(original.read_bytes())
    damaged[5338:5343] = b"\xb5\xdco\xc06"
    out = tmp_path / "rle_bad.dcm"
    out.write_bytes(bytes(damaged))

    status, detail = _verdict(original, out)

    assert status is Status.PIXELS_ALTERED
    assert "pixel data cannot be decoded" in detail


def test_bits_above_bits_stored_changed_in_the_same_syntax_are_pixels_altered(
    tmp_path: Path,
) -> None:
    original = next(PYDICOM_FILES.rglob("6154"))  # CR, Bits Allocated 16, Bits Stored 12
    ds = dcmread(original)
    samples = bytearray(ds.PixelData)
    for i in range(1, len(samples) // 2, 2):
        samples[i] |= 0x80  # bit 15: an embedded overlay a viewer may show
    ds.PixelData = bytes(samples)
    ds.save_as(tmp_path / "high.dcm")

    status, detail = _verdict(original, tmp_path / "high.dcm")

    assert status is Status.PIXELS_ALTERED, detail


def test_bytes_appended_after_the_last_sample_are_pixels_altered(tmp_path: Path) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    ds = dcmread(original)
    ds.PixelData += b"MZ" + b"\x90" * 4094
    ds.save_as(tmp_path / "payload.dcm")

    status, detail = _verdict(original, tmp_path / "payload.dcm")

    assert status is Status.PIXELS_ALTERED, detail


def test_bits_above_bits_stored_cleared_by_a_lossless_round_trip_stay_intact(
    tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / "MR_small_padded.dcm"
    out = _dcmtk(original, tmp_path, ["dcmcjpls"], ["dcmdjpls"])
    assert fingerprint_file(out).pixel_sha256 != fingerprint_file(original).pixel_sha256

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail


def test_edited_pixels_under_an_unknown_transfer_syntax_uid_are_pixels_altered(
    tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / "CT_small.dcm"
    ds = dcmread(original)
    samples = bytearray(ds.PixelData)
    samples[10000:12000] = b"\xb8\x0b" * 1000
    ds.PixelData = bytes(samples)
    ds.save_as(tmp_path / "edited.dcm", enforce_file_format=True)
    data = (tmp_path / "edited.dcm").read_bytes().replace(
        b"UI\x14\x001.2.840.10008.1.2.1\x00", b"UI\x14\x001.2.840.10008.1.2.9\x00", 1)
    (tmp_path / "edited.dcm").write_bytes(data)

    status, detail = _verdict(original, tmp_path / "edited.dcm")

    assert status is Status.PIXELS_ALTERED, detail


def test_a_changed_icon_in_a_lossy_file_is_header_altered_not_needs_review(
    tmp_path: Path,
) -> None:
    from pydicom.encaps import encapsulate, generate_frames

    lossy = _dcmtk(SAMPLES / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm", tmp_path,
                   ["dcmcjpeg", "+eb"])
    kept = tmp_path / "lossy.dcm"
    shutil.copyfile(lossy, kept)
    ds = dcmread(kept)
    frame = bytearray(next(generate_frames(ds.IconImageSequence[0].PixelData,
                                           number_of_frames=1)))
    k = len(frame) - 200
    while frame[k] == 0xFF or frame[k - 1] == 0xFF:
        k += 1
    frame[k] ^= 0x24
    ds.IconImageSequence[0].PixelData = encapsulate([bytes(frame)])
    ds.save_as(tmp_path / "icon.dcm")

    status, detail = _verdict(kept, tmp_path / "icon.dcm")

    assert status is Status.HEADER_ALTERED, detail
    assert "icon" in detail


def test_lossy_original_decoded_and_stored_as_reversible_jpeg_2000_needs_review(
    tmp_path: Path,
) -> None:
    original = SAMPLES / "deid-data" / "ctbrain1.dcm"  # JPEG baseline; stays flagged "01"
    native = _dcmtk(original, tmp_path, ["dcmdjpeg"])
    ds = dcmread(native)
    ds.compress(JPEG2000Lossless, generate_instance_uid=False)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.91"  # the "lossy or lossless" UID
    ds.save_as(tmp_path / "j2k.dcm", enforce_file_format=True)

    status, detail = _verdict(original, tmp_path / "j2k.dcm")

    assert status is Status.NEEDS_REVIEW, detail


def test_icon_recorded_without_decoding_and_decompressed_needs_review_not_an_alarm(
    tmp_path: Path,
) -> None:
    compressed = _dcmtk(SAMPLES / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm",
                        tmp_path, ["dcmcjpls"])
    kept = tmp_path / "jls.dcm"
    shutil.copyfile(compressed, kept)
    out = _dcmtk(kept, tmp_path, ["dcmdjpls"])

    status, detail = _verdict(kept, out, decode=False)

    assert status is Status.NEEDS_REVIEW, detail


def test_planar_configuration_0_added_does_not_soften_a_pixel_edit(tmp_path: Path) -> None:
    original = SAMPLES / "dcm4che" / "MR-JPEGLosslessSV1.dcm"
    native = _dcmtk(original, tmp_path, ["dcmdjpeg"])
    ds = dcmread(native)
    samples = bytearray(ds.PixelData)
    samples[20000:20400] = b"\xff\x0f" * 200
    ds.PixelData = bytes(samples)
    ds.save_as(tmp_path / "edited.dcm")
    recompressed = _dcmtk(tmp_path / "edited.dcm", tmp_path, ["dcmcjpeg", "+e1"])
    out = _edited(recompressed, tmp_path / "planar.dcm", PlanarConfiguration=0)

    status, detail = _verdict(original, out, decode=False)

    assert status is Status.PIXELS_ALTERED, detail


def test_big_endian_pixel_data_vr_changed_from_ow_to_ob_is_pixels_altered(
    tmp_path: Path,
) -> None:
    original = PYDICOM_FILES / "MR_small_bigendian.dcm"
    data = original.read_bytes()
    assert data.count(b"\x7f\xe0\x00\x10OW") == 1
    out = tmp_path / "ob.dcm"
    out.write_bytes(data.replace(b"\x7f\xe0\x00\x10OW", b"\x7f\xe0\x00\x10OB"))

    status, detail = _verdict(original, out)

    assert status is Status.PIXELS_ALTERED, detail


def test_an_empty_private_sequence_is_intact_after_explicit_to_implicit(tmp_path: Path) -> None:
    from pydicom.sequence import Sequence as DicomSequence

    ds = dcmread(PYDICOM_FILES / "CT_small.dcm")
    ds.private_block(0x0009, "PACSGUARD TEST", create=True).add_new(0x01, "SQ",
                                                                    DicomSequence([]))
    ds.save_as(tmp_path / "psq.dcm", enforce_file_format=True)
    out = _dcmtk(tmp_path / "psq.dcm", tmp_path, ["dcmconv", "+ti"])

    status, detail = _verdict(tmp_path / "psq.dcm", out)

    assert status is Status.INTACT, detail


def test_encapsulated_data_in_a_private_ob_is_intact_after_explicit_to_implicit(
    tmp_path: Path,
) -> None:
    from pydicom.encaps import encapsulate

    ds = dcmread(PYDICOM_FILES / "CT_small.dcm")
    jpeg = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + b"\x11" * 100 + b"\xff\xd9")
    ds.private_block(0x0029, "ACME THUMBNAIL", create=True).add_new(0x10, "OB",
                                                                    encapsulate([jpeg]))
    ds.save_as(tmp_path / "penc.dcm", enforce_file_format=True)
    out = _dcmtk(tmp_path / "penc.dcm", tmp_path, ["dcmconv", "+ti"])

    status, detail = _verdict(tmp_path / "penc.dcm", out)

    assert status is Status.INTACT, detail


def test_a_public_sequence_written_as_un_of_defined_length_is_intact(tmp_path: Path) -> None:
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_sequence

    original = PYDICOM_FILES / "CT_small.dcm"
    element = dcmread(original)["OtherPatientIDsSequence"]
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_sequence(fp, element, ["iso8859"])
    items = fp.getvalue()
    data = original.read_bytes()
    at = data.find(b"\x10\x00\x02\x10SQ\x00\x00")
    length = struct.unpack_from("<I", data, at + 8)[0]
    end = (data.find(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00", at) + 8 if length == 0xFFFFFFFF
           else at + 12 + length)
    out = tmp_path / "un.dcm"
    out.write_bytes(data[:at] + b"\x10\x00\x02\x10UN\x00\x00" + struct.pack("<I", len(items))
                    + items + data[end:])

    status, detail = _verdict(original, out)

    assert status is Status.INTACT, detail
