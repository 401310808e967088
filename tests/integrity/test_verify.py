"""Specification of ``verify``: every status, each produced by a really tampered file.

A small archive (four real sample files and two generated CT series) is recorded into a fresh
ledger, then damaged the way an attacker or a broken disk would, then verified.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import RLELossless, generate_uid
from sqlalchemy import update

from pacsguard.demo.scenario import PATIENTS, _ct_slice, _rewrite_ledger_row
from pacsguard.integrity.fingerprint import fingerprint_file
from pacsguard.integrity.record import Outcome, record
from pacsguard.integrity.status import Discrepancy, Status
from pacsguard.integrity.verify import VerifyReport, verify
from pacsguard.store.engine import open_engine
from pacsguard.store.schema import entries
from pacsguard.workspace import Workspace
from tests.attacks import roll_back_ledger

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "pacsguard" / "demo" / "samples"
REAL = ("deid-data/ctbrain1.dcm", "dcm4che/MR-JPEGLosslessSV1.dcm",
        "pydicom-data/OBXXXX1A_rle.dcm", "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm")
SLICES = 3


@dataclasses.dataclass
class Env:
    ws: Workspace
    archive: Path

    @property
    def scanners(self) -> Path:
        return self.archive / "scanners"

    def ct(self, patient: int, n: int) -> Path:
        return self.archive / "ct" / PATIENTS[patient][0] / f"slice{n:03d}.dcm"

    def record(self, *roots: Path, **kw: object) -> list[object]:
        ledger, profile, attr_key = self.ws.open_ledger()
        try:
            out = list(record(ledger, profile, attr_key, list(roots or (self.archive,)),
                              workers=1, **kw))  # type: ignore[arg-type]
            self.ws.save_checkpoint_copy(ledger.sign_checkpoint())
        finally:
            ledger.engine.dispose()
        return out  # type: ignore[return-value]

    def verify(self, *roots: Path, witnessed: bool = True,
               **kw: object) -> tuple[VerifyReport, list[Discrepancy]]:
        ledger, profile, attr_key = self.ws.open_ledger(read_only=True)
        try:
            note = self.ws.checkpoint_copy.read_text() if witnessed else None
            report, found = verify(ledger, profile, attr_key, list(roots or (self.archive,)),
                                   workers=1, witnessed=note, **kw)  # type: ignore[arg-type]
            return report, list(found)
        finally:
            ledger.engine.dispose()

    def uid(self, path: Path) -> str:
        return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def build_small_archive(archive: Path) -> None:
    for rel in REAL:
        dst = archive / "scanners" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / rel, dst)
    rng = np.random.default_rng(11)
    for patient in PATIENTS[:2]:
        study, series = generate_uid(), generate_uid()
        folder = archive / "ct" / patient[0]
        folder.mkdir(parents=True)
        for n in range(SLICES):
            _ct_slice(patient, study, series, n, rng).save_as(
                folder / f"slice{n + 1:03d}.dcm", enforce_file_format=True)


N_FILES = len(REAL) + 2 * SLICES


@pytest.fixture
def env(tmp_path: Path) -> Env:
    archive = tmp_path / "archive"
    build_small_archive(archive)
    ws = Workspace(tmp_path / "home")
    ws.init(origin="verify.test/ledger")
    e = Env(ws, archive)
    results = e.record()
    assert [r.outcome for r in results] == [Outcome.RECORDED] * N_FILES  # type: ignore[attr-defined]
    return e


def only(findings: list[Discrepancy], path: Path | str) -> Discrepancy:
    mine = [f for f in findings if f.path == str(path)]
    assert len(mine) == 1, findings
    return mine[0]


def statuses(findings: list[Discrepancy]) -> dict[str, Status]:
    return {f.path: f.status for f in findings}


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            st = p.stat()
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns,
                           st.st_mode)
    return out


# ---------------------------------------------------------------------------------------------
# intact
# ---------------------------------------------------------------------------------------------


def test_verify_reports_all_intact_when_nothing_changed(env: Env) -> None:
    report, findings = env.verify()
    assert report.ok
    assert report.integrity.ok
    assert report.files == N_FILES
    assert report.counts == {Status.INTACT: N_FILES}
    assert findings == []


def test_verify_reports_a_losslessly_transcoded_file_as_intact(env: Env) -> None:
    path = env.scanners / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    ds = dcmread(path)
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)

    report, findings = env.verify()

    finding = only(findings, path)
    assert finding.status is Status.INTACT
    assert "losslessly transcoded" in finding.detail
    assert report.ok
    assert report.counts == {Status.INTACT: N_FILES}


def test_verify_reports_intact_when_an_archive_adds_a_rewritable_attribute(env: Env) -> None:
    path = env.ct(0, 1)
    ds = dcmread(path)
    ds.InstanceAvailability = "ONLINE"
    ds.save_as(path)

    report, findings = env.verify()

    assert only(findings, path).status is Status.INTACT
    assert report.ok


def test_decompressed_jpeg_lossless_is_intact_by_default_and_needs_review_without_decoding(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "a"
    path = archive / "MR-JPEGLosslessSV1.dcm"
    archive.mkdir()
    shutil.copyfile(SAMPLES / "dcm4che" / "MR-JPEGLosslessSV1.dcm", path)
    plain = Env(Workspace(tmp_path / "plain"), archive)
    plain.ws.init()
    plain.record(archive, decode=False)
    decoded = Env(Workspace(tmp_path / "decoded"), archive)
    decoded.ws.init()
    decoded.record(archive)  # the default records the decoded-pixel digest
    ds = dcmread(path)
    ds.decompress(generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)

    report, findings = decoded.verify()
    assert report.ok
    assert "losslessly transcoded" in only(findings, path).detail

    report, findings = plain.verify()
    assert not report.ok
    finding = only(findings, path)
    assert finding.status is Status.NEEDS_REVIEW
    assert "recorded without a decoded-pixel digest" in finding.detail
    assert "JPEG Lossless" in finding.detail


# ---------------------------------------------------------------------------------------------
# corrupted
# ---------------------------------------------------------------------------------------------


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage(p: Path) -> None:
    p.write_bytes(np.random.default_rng(3).integers(0, 256, p.stat().st_size,
                                                    dtype=np.uint8).tobytes())


def _empty(p: Path) -> None:
    p.write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate, _garbage, _empty],
                         ids=["truncated", "overwritten-with-garbage", "zero-bytes"])
def test_verify_reports_corrupted_when_a_recorded_file_is_damaged(
    env: Env, damage: Callable[[Path], None]
) -> None:
    path = env.scanners / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    uid = env.uid(path)
    damage(path)

    report, findings = env.verify()

    finding = only(findings, path)
    assert finding.status is Status.CORRUPTED
    assert finding.sop_instance_uid == uid
    assert str(path) in finding.detail
    assert "recorded at this path" in finding.detail
    assert report.counts[Status.CORRUPTED] == 1
    assert report.counts[Status.INTACT] == N_FILES - 1
    assert not report.ok


# ---------------------------------------------------------------------------------------------
# pixels, header and identity
# ---------------------------------------------------------------------------------------------


def test_verify_reports_pixels_altered_when_two_images_swap_pixels(env: Env) -> None:
    a, b = env.ct(0, 2), env.ct(1, 2)
    da, db = dcmread(a), dcmread(b)
    assert da.PixelData != db.PixelData
    da.PixelData, db.PixelData = db.PixelData, da.PixelData
    da.save_as(a)
    db.save_as(b)

    report, findings = env.verify()

    assert statuses(findings) == {str(a): Status.PIXELS_ALTERED, str(b): Status.PIXELS_ALTERED}
    assert only(findings, a).sop_instance_uid == da.SOPInstanceUID
    assert "pixel" in only(findings, a).detail
    assert report.counts[Status.PIXELS_ALTERED] == 2
    assert not report.ok


def test_verify_reports_pixels_altered_when_one_compressed_byte_changes(env: Env) -> None:
    path = env.scanners / "deid-data" / "ctbrain1.dcm"
    data = bytearray(path.read_bytes())
    data[-40] ^= 0x01
    path.write_bytes(bytes(data))

    _, findings = env.verify()

    assert statuses(findings) == {str(path): Status.PIXELS_ALTERED}


@pytest.mark.parametrize(("keyword", "value"), [("StationName", "ELSEWHERE"),
                                                 ("ImageComments", "looks fine to me")])
def test_verify_reports_header_altered_for_a_non_clinical_attribute(
    env: Env, keyword: str, value: str
) -> None:
    path = env.ct(1, 3)
    ds = dcmread(path)
    setattr(ds, keyword, value)
    ds.save_as(path)

    report, findings = env.verify()

    assert statuses(findings) == {str(path): Status.HEADER_ALTERED}
    assert report.counts[Status.HEADER_ALTERED] == 1
    assert not report.ok


def test_verify_reports_identity_altered_and_names_the_attribute_when_patient_id_changes(
    env: Env,
) -> None:
    path = env.ct(0, 1)
    ds = dcmread(path)
    ds.PatientID = "DEMO0003"
    ds.save_as(path)

    report, findings = env.verify()

    finding = only(findings, path)
    assert finding.status is Status.IDENTITY_ALTERED
    assert "PatientID" in finding.detail
    assert "PatientName" not in finding.detail
    assert "DEMO0003" not in finding.detail  # no patient data in the report
    assert len(findings) == 1
    assert not report.ok


def test_identity_outranks_header_when_a_file_is_moved_to_another_patient(env: Env) -> None:
    path = env.ct(0, 3)
    ds = dcmread(path)
    ds.PatientID, ds.PatientName = PATIENTS[2][0], PATIENTS[2][1]
    ds.StationName = "OTHER"
    ds.save_as(path)

    _, findings = env.verify()

    finding = only(findings, path)
    assert finding.status is Status.IDENTITY_ALTERED
    assert "PatientID" in finding.detail and "PatientName" in finding.detail
    assert "header attributes differ" in finding.detail
    assert PATIENTS[2][1] not in finding.detail


# ---------------------------------------------------------------------------------------------
# missing, unrecorded, duplicate
# ---------------------------------------------------------------------------------------------


def test_verify_reports_missing_when_a_recorded_file_is_deleted(env: Env) -> None:
    path = env.ct(1, 1)
    uid = env.uid(path)
    path.unlink()

    report, findings = env.verify()

    finding = only(findings, path)
    assert finding.status is Status.MISSING
    assert finding.sop_instance_uid == uid
    assert report.counts[Status.MISSING] == 1
    assert report.files == N_FILES - 1
    assert not report.ok


def test_verify_reports_unrecorded_for_an_injected_file(env: Env) -> None:
    injected = env.archive / "ct" / PATIENTS[1][0] / "slice099.dcm"
    _ct_slice(PATIENTS[1], generate_uid(), generate_uid(), 0,
              np.random.default_rng(5)).save_as(injected, enforce_file_format=True)

    report, findings = env.verify()

    finding = only(findings, injected)
    assert finding.status is Status.UNRECORDED
    assert finding.sop_instance_uid == env.uid(injected)
    assert report.counts == {Status.INTACT: N_FILES, Status.UNRECORDED: 1}
    assert not report.ok


def test_verify_reports_duplicate_for_an_altered_copy_in_another_folder(env: Env) -> None:
    original = env.ct(0, 2)
    copy = env.archive / "elsewhere" / "copy.dcm"
    copy.parent.mkdir()
    ds = dcmread(original)
    px = np.frombuffer(ds.PixelData, dtype="<u2").copy()
    px[100] += 1
    ds.PixelData = px.tobytes()
    ds.save_as(copy)

    report, findings = env.verify()

    finding = only(findings, copy)
    assert finding.status is Status.DUPLICATE
    assert finding.sop_instance_uid == ds.SOPInstanceUID
    assert str(original) in finding.detail
    assert str(original) not in statuses(findings)  # the original is intact
    assert report.counts[Status.DUPLICATE] == 1
    assert not report.ok


def test_an_identical_copy_elsewhere_is_intact(env: Env) -> None:
    copy = env.archive / "backup" / "slice.dcm"
    copy.parent.mkdir()
    shutil.copyfile(env.ct(0, 1), copy)

    report, _ = env.verify()

    assert report.ok
    assert report.counts == {Status.INTACT: N_FILES + 1}


# ---------------------------------------------------------------------------------------------
# ledger_tampered
# ---------------------------------------------------------------------------------------------


def test_verify_reports_ledger_tampered_when_a_row_is_rewritten_to_match_a_forged_image(
    env: Env,
) -> None:
    forged = env.ct(1, 2)
    ds = dcmread(forged)
    px = np.frombuffer(ds.PixelData, dtype="<u2").reshape(64, 64).copy()
    px[20:24, 30:34] = 1900  # a fake lesion
    ds.PixelData = px.tobytes()
    ds.save_as(forged)
    _rewrite_ledger_row(env.ws, forged)

    report, findings = env.verify()

    assert only(findings, forged).status is Status.LEDGER_TAMPERED
    assert "edited after it was signed" in only(findings, forged).detail
    ledger_findings = [f for f in findings if f.path == "(ledger)"]
    assert ledger_findings
    assert all(f.status is Status.LEDGER_TAMPERED for f in ledger_findings)
    assert not report.integrity.ok
    assert len(report.integrity.tampered_leaves) == 1
    assert not report.ok


def _delete_newest(env: Env, keep: int, drop_checkpoints: bool) -> None:
    roll_back_ledger(env.ws.settings()["database_url"], keep, drop_checkpoints)


def test_verify_reports_ledger_tampered_when_the_latest_rows_are_deleted(env: Env) -> None:
    _delete_newest(env, N_FILES - 2, drop_checkpoints=False)

    report, findings = env.verify()

    assert not report.integrity.ok
    assert not report.ok
    assert any("removed" in p for p in report.integrity.problems)
    assert any(f.status is Status.LEDGER_TAMPERED and f.path == "(ledger)" for f in findings)


def test_verify_reports_ledger_tampered_when_a_rows_uid_index_is_pointed_elsewhere(
        env: Env) -> None:
    """A row whose UID key no longer matches its entry would hide the instance from lookups
    by UID (record would then re-record it as new), so it is as untrusted as an edited row."""
    engine = open_engine(env.ws.settings()["database_url"])
    with engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.leaf_index == 3).values(uid_key=12345))
    engine.dispose()

    report, findings = env.verify()

    assert report.integrity.tampered_leaves == [3]
    assert not report.integrity.ok
    assert any(f.status is Status.LEDGER_TAMPERED and f.path == "(ledger)" for f in findings)


def test_verify_catches_a_rollback_that_also_removed_checkpoints_by_the_copy_outside_the_db(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    build_small_archive(archive)
    env = Env(Workspace(tmp_path / "home"), archive)
    env.ws.init()
    env.record(archive / "scanners")
    first = env.ws.checkpoint_copy.read_text()
    env.record(archive / "ct")
    assert env.ws.checkpoint_copy.read_text() != first
    _delete_newest(env, len(REAL), drop_checkpoints=True)

    report, findings = env.verify(archive / "scanners", witnessed=True)

    assert not report.integrity.ok
    (problem,) = [p for p in report.integrity.problems if "ROLLED BACK" in p]
    assert "outside the database" in problem  # caught by the copy, not by the database
    assert any(f.path == "(ledger)" for f in findings)


# ---------------------------------------------------------------------------------------------
# scope, read-only, and the overall verdict
# ---------------------------------------------------------------------------------------------


def test_verify_never_modifies_the_archive(env: Env) -> None:
    _truncate(env.scanners / "deid-data" / "ctbrain1.dcm")
    ds = dcmread(env.ct(0, 1))
    ds.PatientID = "X"
    ds.save_as(env.ct(0, 1))
    env.ct(1, 1).unlink()
    (env.archive / "notes.txt").write_text("not an image")
    before = snapshot(env.archive)
    ledger_db = env.ws.data_dir / "ledger.sqlite"
    ledger_before = ledger_db.read_bytes(), env.ws.checkpoint_copy.read_bytes()

    report, findings = env.verify()
    report2, _ = env.verify(expect_all=True)

    assert findings and not report.ok and not report2.ok
    assert snapshot(env.archive) == before
    assert (ledger_db.read_bytes(), env.ws.checkpoint_copy.read_bytes()) == ledger_before


def test_expect_all_reports_instances_recorded_outside_the_roots_as_missing(env: Env) -> None:
    scoped, scoped_findings = env.verify(env.archive / "ct")
    assert scoped.ok
    assert scoped_findings == []
    assert scoped.files == 2 * SLICES

    report, findings = env.verify(env.archive / "ct", expect_all=True)

    assert not report.ok
    assert report.counts[Status.MISSING] == len(REAL)
    missing = {f.path for f in findings if f.status is Status.MISSING}
    assert missing == {str(env.scanners / rel) for rel in REAL}


def test_a_file_recorded_through_a_relative_path_is_reported_missing_when_deleted(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fresh = Env(Workspace(tmp_path / "home2"), env.archive)
    fresh.ws.init()
    fresh.record(Path("archive"))
    env.ct(0, 1).unlink()

    report, findings = fresh.verify(Path("archive"))

    assert [f.status for f in findings] == [Status.MISSING]
    assert not report.ok


def test_report_is_ok_only_when_every_file_is_intact(env: Env) -> None:
    assert env.verify()[0].ok
    path = env.ct(1, 2)
    ds = dcmread(path)
    ds.StationName = "X"  # the mildest finding
    ds.save_as(path)
    assert not env.verify()[0].ok


def test_findings_come_worst_first(env: Env) -> None:
    ds = dcmread(env.ct(0, 1))
    ds.StationName = "X"
    ds.save_as(env.ct(0, 1))
    a, b = env.ct(0, 2), env.ct(1, 2)
    da, db = dcmread(a), dcmread(b)
    da.PixelData, db.PixelData = db.PixelData, da.PixelData
    da.save_as(a)
    db.save_as(b)
    env.ct(1, 3).unlink()

    _, findings = env.verify()

    assert [f.status for f in findings] == [Status.PIXELS_ALTERED, Status.PIXELS_ALTERED,
                                            Status.MISSING, Status.HEADER_ALTERED]


def test_fingerprint_of_an_intact_file_matches_its_ledger_entry(env: Env) -> None:
    ledger, _, _ = env.ws.open_ledger(read_only=True)
    path = env.ct(0, 1)
    uid = env.uid(path)
    stored = ledger.current([uid])[uid]
    ledger.engine.dispose()
    assert stored.entry.fingerprint.file_sha256 == fingerprint_file(path).file_sha256


@pytest.mark.postgres
def test_verify_against_a_postgresql_ledger_finds_the_same_tamperings(
    tmp_path: Path, postgres_url: str
) -> None:
    archive = tmp_path / "archive"
    build_small_archive(archive)
    env = Env(Workspace(tmp_path / "home"), archive)
    env.ws.init(database_url=postgres_url)
    env.record()
    assert env.verify()[0].ok
    a, b = env.ct(0, 1), env.ct(1, 1)
    da, db = dcmread(a), dcmread(b)
    da.PixelData, db.PixelData = db.PixelData, da.PixelData
    da.save_as(a)
    db.save_as(b)
    env.ct(0, 2).unlink()
    _rewrite_ledger_row(env.ws, b)

    report, findings = env.verify()

    assert statuses(findings) == {str(a): Status.PIXELS_ALTERED, str(b): Status.LEDGER_TAMPERED,
                                  str(env.ct(0, 2)): Status.MISSING, "(ledger)":
                                  Status.LEDGER_TAMPERED}
    assert not report.integrity.ok
