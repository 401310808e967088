"""The demo: build a small archive, record it, play an attacker, verify, show what was found.

The archive holds the real scanner files shipped in ``demo/samples`` (see PROVENANCE.md there;
Siemens, Philips, GE, Fuji, Acuson, Elscint... with fake patient names) and generated CT
series for three made-up patients. The attacker then:

1. corrupts one file (truncates it);
2. deletes one image;
3. swaps the pixel data of two patients' images;
4. moves one image to another patient (rewrites Patient ID, Name, Birth Date);
5. injects an image that was never recorded;
6. paints a fake lesion into an image and rewrites that image's ledger row behind the tool's
   back so the row matches the fake.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from pacsguard.integrity.entry import LedgerEntry
from pacsguard.integrity.fingerprint import fingerprint_file
from pacsguard.integrity.record import record
from pacsguard.integrity.status import Status
from pacsguard.workspace import Workspace

SAMPLES = Path(__file__).parent / "samples"
PATIENTS = (
    ("DEMO0001", "DEMO^ALICE", "19610314", "F"),
    ("DEMO0002", "DEMO^BOB", "19700822", "M"),
    ("DEMO0003", "DEMO^CAROL", "19851130", "F"),
)
SLICES = 6
#: ctbrain2.dcm carries the same SOP Instance UID as ctbrain1.dcm (a real-world duplicate in the
#: deid-data set); the tests use it, the demo leaves it out so its report shows only the attacks.
DEMO_SKIP = frozenset({"ctbrain2.dcm"})


@dataclass(frozen=True)
class Attack:
    """One thing the attacker did, and the status the verifier must give it."""

    what: str
    path: str
    expected: Status


def _ct_slice(patient: tuple[str, str, str, str], study: str, series: str, n: int,
              rng: np.random.Generator) -> Dataset:
    pid, name, dob, sex = patient
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = pid, name, dob, sex
    ds.AccessionNumber = f"ACC{pid[-4:]}"
    ds.StudyDate, ds.StudyTime = "20261120", "101500"
    ds.Modality, ds.BodyPartExamined = "CT", "CHEST"
    ds.Manufacturer, ds.ManufacturerModelName = "GE MEDICAL SYSTEMS", "Optima CT660"
    ds.SoftwareVersions = ["gmp_vct.43", "sw 22.1"]
    ds.DeviceSerialNumber, ds.StationName = "DEMO-CT-01", "CT01"
    ds.InstitutionName = "Demo General Hospital"
    ds.InstanceNumber = n + 1
    ds.ImagePositionPatient = [-160.0, -160.0, -50.0 + 5.0 * n]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.625, 0.625]
    ds.SliceThickness = 5.0
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    yy, xx = np.mgrid[0:64, 0:64]
    body = ((xx - 32) ** 2 + (yy - 32) ** 2 < 28**2) * 1000
    noise = rng.integers(0, 40, size=(64, 64))
    ds.PixelData = (body + noise).astype("<u2").tobytes()
    return ds


def build_archive(archive: Path, seed: int = 2019) -> list[Path]:
    """Copy the real samples and generate the synthetic series; return the files written."""
    rng = np.random.default_rng(seed)
    written = []
    for src in sorted(SAMPLES.rglob("*.dcm")):
        if src.name in DEMO_SKIP:
            continue
        dst = archive / "scanners" / src.parent.name / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)
    for patient in PATIENTS:
        study, series = generate_uid(), generate_uid()
        folder = archive / "ct" / patient[0]
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(SLICES):
            ds = _ct_slice(patient, study, series, n, rng)
            path = folder / f"slice{n + 1:03d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            written.append(path)
    return written


def attack(archive: Path, ws: Workspace) -> list[Attack]:
    """Play the attacker; return what was done and what the verifier must say."""
    ct = archive / "ct"
    attacks = []

    victim = archive / "scanners" / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    attacks.append(Attack("corrupted a file (truncated to half)", str(victim),
                          Status.CORRUPTED))

    deleted = ct / "DEMO0003" / "slice006.dcm"
    deleted.unlink()
    attacks.append(Attack("deleted an image", str(deleted), Status.MISSING))

    a, b = ct / "DEMO0001" / "slice003.dcm", ct / "DEMO0002" / "slice003.dcm"
    da, db = dcmread(a), dcmread(b)
    da.PixelData, db.PixelData = db.PixelData, da.PixelData
    da.save_as(a)
    db.save_as(b)
    attacks.append(Attack("swapped pixel data between two patients (1/2)", str(a),
                          Status.PIXELS_ALTERED))
    attacks.append(Attack("swapped pixel data between two patients (2/2)", str(b),
                          Status.PIXELS_ALTERED))

    moved = ct / "DEMO0001" / "slice005.dcm"
    dm = dcmread(moved)
    dm.PatientID, dm.PatientName, dm.PatientBirthDate, dm.PatientSex = PATIENTS[2]
    dm.save_as(moved)
    attacks.append(Attack("moved an image to another patient", str(moved),
                          Status.IDENTITY_ALTERED))

    rng = np.random.default_rng(7)
    injected_ds = _ct_slice(PATIENTS[1], generate_uid(), generate_uid(), 0, rng)
    injected = ct / "DEMO0002" / "slice099.dcm"
    injected_ds.save_as(injected, enforce_file_format=True)
    attacks.append(Attack("injected an image that was never recorded", str(injected),
                          Status.UNRECORDED))

    forged = ct / "DEMO0002" / "slice004.dcm"
    df = dcmread(forged)
    px = np.frombuffer(df.PixelData, dtype="<u2").reshape(64, 64).copy()
    yy, xx = np.mgrid[0:64, 0:64]
    px[(xx - 40) ** 2 + (yy - 24) ** 2 < 16] = 1900  # a fake "nodule"
    df.PixelData = px.tobytes()
    df.save_as(forged)
    _rewrite_ledger_row(ws, forged)
    attacks.append(Attack("painted a fake lesion and rewrote its ledger row to match",
                          str(forged), Status.LEDGER_TAMPERED))
    return attacks


def _rewrite_ledger_row(ws: Workspace, path: Path) -> None:
    """What an insider with database access would do: make the row match the fake image."""
    from dataclasses import replace

    from sqlalchemy import select, update

    from pacsguard.store.engine import open_engine
    from pacsguard.store.schema import entries

    ledger, profile, attr_key = ws.open_ledger()
    fake = fingerprint_file(path, profile, attr_key)
    engine = open_engine(ws.settings()["database_url"])
    with engine.begin() as conn:
        idx, raw = conn.execute(
            select(entries.c.leaf_index, entries.c.entry)
            .where(entries.c.sop_instance_uid == fake.sop_instance_uid)
        ).one()
        old = LedgerEntry.decode(bytes(raw))
        new = replace(old, fingerprint=fake)
        conn.execute(update(entries).where(entries.c.leaf_index == idx)
                     .values(entry=new.encode()))
    engine.dispose()
    ledger.engine.dispose()


def run_demo(workdir: Path, say: Callable[[str], None]) -> tuple[Workspace, Path, list[Attack]]:
    """Build, record and attack; the caller verifies and shows the result."""
    if workdir.exists():
        shutil.rmtree(workdir)
    archive = workdir / "archive"
    ws = Workspace(workdir / "pacsguard-home")
    files = build_archive(archive)
    say(f"built a sample archive of {len(files)} images in {archive}")
    ws.init(origin="demo.pacsguard.local/ledger")
    ledger, profile, attr_key = ws.open_ledger()
    results = list(record(ledger, profile, attr_key, [archive]))
    note = ledger.sign_checkpoint()
    ws.save_checkpoint_copy(note)
    say(f"recorded {sum(1 for r in results if r.leaf_index is not None)} instances in the "
        "ledger and signed a checkpoint:")
    say(note.rstrip())
    ledger.engine.dispose()
    attacks = attack(archive, ws)
    say("the attacker has been at work:")
    for a in attacks:
        say(f"  - {a.what}: {Path(a.path).relative_to(archive)}")
    return ws, archive, attacks
