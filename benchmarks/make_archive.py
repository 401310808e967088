#!/usr/bin/env python3
"""Generate a deterministic synthetic DICOM archive for the benchmarks (issue #2 §6).

Default: about 5,000 instances, about 2 GB, file sizes from ~10 kB to ~5 MB, several
transfer syntaxes, realistic patient/study/series hierarchy:

    PATIENT/STUDY/SERIES/IMnnnnn.dcm

Categories (files at the default scale, approximate file size):

    ct-low   760  CT  72x72      16-bit                ~12 kB
    ct-128   400  CT  128x128    16-bit                ~34 kB
    mr      1570  MR  256x256    16-bit                ~133 kB
    ct      2060  CT  512x512    16-bit                ~526 kB
    dx        60  DX  1024x1024  16-bit                ~2.1 MB
    cr        90  CR  2048x1200  16-bit                ~4.9 MB
    xa        60  XA  512x512 x 16 frames, 8-bit       ~4.2 MB

Each series has one transfer syntax: Explicit VR Little Endian (most), Implicit VR Little
Endian, Deflated Explicit VR Little Endian (small CT only), RLE Lossless, JPEG-LS Lossless and
JPEG 2000 Lossless. Compressed pixel data is encoded once per (category, syntax) for a few
templates and reused (encoders are slow); headers and UIDs differ per instance, so every file
is distinct. Everything (UIDs included) derives from --seed, so two runs give the same bytes.

Usage:
    python benchmarks/make_archive.py /work/bench-out/archive [--seed 2026] [--files 5000]
    python benchmarks/make_archive.py /work/bench-out/small --only ct-low,ct-128   # small files
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    MRImageStorage,
    RLELossless,
    XRayAngiographicImageStorage,
    generate_uid,
)

UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's root; entropy makes the rest deterministic


@dataclass(frozen=True)
class Category:
    name: str
    modality: str
    sop_class: UID
    rows: int
    cols: int
    frames: int
    bits: int  # bits allocated
    stored: int  # bits stored
    files: int  # at the default scale of 5,000 files
    series_len: tuple[int, int]  # instances per series, inclusive
    syntaxes: tuple[tuple[UID, float], ...]  # per-series probabilities


CATEGORIES = (
    Category("ct-low", "CT", CTImageStorage, 72, 72, 1, 16, 12, 760, (20, 60),
             ((ExplicitVRLittleEndian, 0.6), (ImplicitVRLittleEndian, 0.2),
              (DeflatedExplicitVRLittleEndian, 0.2))),
    Category("ct-128", "CT", CTImageStorage, 128, 128, 1, 16, 12, 400, (20, 60),
             ((ExplicitVRLittleEndian, 0.6), (ImplicitVRLittleEndian, 0.2),
              (DeflatedExplicitVRLittleEndian, 0.2))),
    Category("mr", "MR", MRImageStorage, 256, 256, 1, 16, 12, 1570, (20, 60),
             ((ExplicitVRLittleEndian, 0.70), (ImplicitVRLittleEndian, 0.15),
              (RLELossless, 0.07), (JPEGLSLossless, 0.08))),
    Category("ct", "CT", CTImageStorage, 512, 512, 1, 16, 12, 2060, (40, 150),
             ((ExplicitVRLittleEndian, 0.75), (ImplicitVRLittleEndian, 0.13),
              (RLELossless, 0.05), (JPEGLSLossless, 0.04), (JPEG2000Lossless, 0.03))),
    Category("dx", "DX", DigitalXRayImageStorageForPresentation, 1024, 1024, 1, 16, 14, 60,
             (1, 4), ((ExplicitVRLittleEndian, 0.7), (ImplicitVRLittleEndian, 0.1),
                      (JPEG2000Lossless, 0.2))),
    Category("cr", "CR", ComputedRadiographyImageStorage, 2048, 1200, 1, 16, 12, 90, (1, 3),
             ((ExplicitVRLittleEndian, 0.7), (ImplicitVRLittleEndian, 0.1),
              (JPEG2000Lossless, 0.2))),
    Category("xa", "XA", XRayAngiographicImageStorage, 512, 512, 16, 8, 8, 60, (1, 4),
             ((ExplicitVRLittleEndian, 0.8), (ImplicitVRLittleEndian, 0.1),
              (RLELossless, 0.1))),
)
STUDY_GROUP = {"CT": "CT", "MR": "MR", "DX": "XR", "CR": "XR", "XA": "XA"}
MANUFACTURERS = {
    "CT": [("GE MEDICAL SYSTEMS", "Optima CT660", "gmp_vct.43"),
           ("SIEMENS", "SOMATOM Definition AS", "syngo CT VA48A")],
    "MR": [("SIEMENS", "Skyra", "syngo MR E11"), ("Philips", "Ingenia", "5.7.1")],
    "DX": [("Carestream Health", "DRX-Evolution", "5.7")],
    "CR": [("FUJIFILM Corporation", "FCR PROFECT", "A05")],
    "XA": [("Philips Medical Systems", "Allura Xper FD20", "8.1.17")],
}
FIRST = ["ANNA", "BEN", "CLARA", "DAVID", "EMMA", "FINN", "GRACE", "HUGO", "IRIS", "JONAS",
         "KATE", "LEO", "MIA", "NOAH", "OLGA", "PAUL", "ROSA", "SAM", "TINA", "VIKTOR"]
LAST = ["SMITH", "MUELLER", "GARCIA", "ROSSI", "DUBOIS", "NOVAK", "JANSEN", "KOWALSKI",
        "NIELSEN", "SILVA", "MURPHY", "BERG", "WEBER", "COSTA", "LEHMANN"]


class Pixels:
    """Pixel bytes per category: a phantom plus a sliding window over a noise pool (cheap)."""

    def __init__(self, cat: Category, rng: np.random.Generator) -> None:
        self.cat = cat
        n = cat.rows * cat.cols
        yy, xx = np.mgrid[0 : cat.rows, 0 : cat.cols]
        cy, cx = cat.rows / 2, cat.cols / 2
        r2 = ((yy - cy) / (0.45 * cat.rows)) ** 2 + ((xx - cx) / (0.42 * cat.cols)) ** 2
        top = (1 << cat.stored) - 1
        if cat.bits == 8:
            body = np.where(r2 < 1, 140, 20).astype(np.uint8)
            frame = body.ravel()
            self.base = np.tile(frame, cat.frames)
            self.pool = rng.integers(0, 50, size=self.base.size + 65536, dtype=np.uint8)
        else:
            inner = ((yy - cy * 0.9) ** 2 + (xx - cx * 1.1) ** 2) < (0.12 * cat.rows) ** 2
            body = np.where(r2 < 1, int(top * 0.25), 0) + np.where(inner, int(top * 0.2), 0)
            self.base = np.tile(body.astype(np.uint16).ravel(), cat.frames)
            self.pool = rng.integers(0, max(2, top // 40), size=self.base.size + 65536,
                                     dtype=np.uint16)
        self.out = np.empty_like(self.base)
        assert self.base.size == n * cat.frames

    def array(self, offset: int) -> np.ndarray:
        np.add(self.base, self.pool[offset : offset + self.base.size], out=self.out)
        return self.out

    def shaped(self, offset: int) -> np.ndarray:
        a = self.array(offset).copy()
        c = self.cat
        return a.reshape((c.frames, c.rows, c.cols) if c.frames > 1 else (c.rows, c.cols))


def _uid(seed: int, *parts: object) -> str:
    return generate_uid(UID_ROOT, entropy_srcs=["/".join(map(str, (seed, *parts)))])


def _image_attrs(ds: Dataset, cat: Category) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = cat.rows, cat.cols
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = cat.bits, cat.stored, cat.stored - 1
    ds.PixelRepresentation = 0
    if cat.frames > 1:
        ds.NumberOfFrames = cat.frames
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = 66.7


class Templates:
    """Encoded (compressed) pixel data, a few per (category, syntax), encoded on first use."""

    PER_KEY = 3

    def __init__(self) -> None:
        self.cache: dict[tuple[str, str], list[bytes]] = {}

    def get(self, cat: Category, ts: UID, pixels: Pixels, k: int) -> bytes:
        key = (cat.name, str(ts))
        if key not in self.cache:
            encoded = []
            for j in range(self.PER_KEY):
                ds = Dataset()
                ds.file_meta = FileMetaDataset()
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
                _image_attrs(ds, cat)
                arr = pixels.shaped(7919 * (j + 1))
                kwargs = {}
                if ts == RLELossless:
                    kwargs["encoding_plugin"] = "pylibjpeg"  # Rust encoder; pydicom's is slow
                ds.compress(ts, arr, generate_instance_uid=False, **kwargs)
                encoded.append(bytes(ds.PixelData))
            self.cache[key] = encoded
        return self.cache[key][k % self.PER_KEY]


@dataclass
class Series:
    cat: Category
    ts: UID
    count: int
    number: int = 0
    uid: str = ""
    description: str = ""


def plan(seed: int, scale: float, rng: np.random.Generator,
         only: frozenset[str] | None = None) -> list[list[list[Series]]]:
    """Patients -> studies -> series, deterministic."""
    by_group: dict[str, list[Series]] = {}
    cats = [c for c in CATEGORIES if only is None or c.name in only]
    if only is not None:  # keep the total number of files
        scale *= sum(c.files for c in CATEGORIES) / sum(c.files for c in cats)
    for cat in cats:
        target = max(1, round(cat.files * scale))
        names = [t for t, _ in cat.syntaxes]
        probs = np.array([p for _, p in cat.syntaxes])
        left = target
        while left > 0:
            n = int(rng.integers(cat.series_len[0], cat.series_len[1] + 1))
            n = min(n, left)
            ts = names[int(rng.choice(len(names), p=probs / probs.sum()))]
            by_group.setdefault(STUDY_GROUP[cat.modality], []).append(Series(cat, ts, n))
            left -= n
    studies: list[list[Series]] = []
    for group in sorted(by_group):
        series = by_group[group]
        order = rng.permutation(len(series))
        i = 0
        while i < len(series):
            k = int(rng.integers(1, 5 if group in ("CT", "MR") else 3))
            studies.append([series[j] for j in order[i : i + k]])
            i += k
    order = rng.permutation(len(studies))
    patients: list[list[list[Series]]] = []
    i = 0
    while i < len(studies):
        k = int(rng.integers(1, 4))
        patients.append([studies[j] for j in order[i : i + k]])
        i += k
    return patients


def generate(out: Path, seed: int, scale: float,
             only: frozenset[str] | None = None) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    pixels = {c.name: Pixels(c, np.random.default_rng([seed, i]))
              for i, c in enumerate(CATEGORIES)}
    templates = Templates()
    patients = plan(seed, scale, rng, only)
    ts_files: Counter[str] = Counter()
    ts_bytes: Counter[str] = Counter()
    cat_files: Counter[str] = Counter()
    sizes: list[int] = []
    sop_uids: set[str] = set()
    n_studies = n_series = 0
    for p, studies in enumerate(patients):
        pid = f"BM{seed % 100:02d}{p:05d}"
        name = f"{LAST[int(rng.integers(len(LAST)))]}^{FIRST[int(rng.integers(len(FIRST)))]}"
        dob = f"{int(rng.integers(1930, 2015))}{int(rng.integers(1, 13)):02d}" \
              f"{int(rng.integers(1, 29)):02d}"
        sex = "F" if rng.random() < 0.5 else "M"
        for s, series_list in enumerate(studies):
            n_studies += 1
            study_uid = _uid(seed, "study", p, s)
            date = f"20{int(rng.integers(18, 27)):02d}{int(rng.integers(1, 13)):02d}" \
                   f"{int(rng.integers(1, 29)):02d}"
            tm = f"{int(rng.integers(7, 19)):02d}{int(rng.integers(0, 60)):02d}00"
            accession = f"A{seed % 100:02d}{p:05d}{s:02d}"
            modality = series_list[0].cat.modality
            study_dir = out / pid / f"{date}_{modality}_{s + 1:02d}"
            for q, ser in enumerate(series_list):
                n_series += 1
                cat = ser.cat
                ser.number = q + 1
                ser.uid = _uid(seed, "series", p, s, q)
                maker = MANUFACTURERS[cat.modality][
                    int(rng.integers(len(MANUFACTURERS[cat.modality])))]
                series_dir = study_dir / f"S{q + 1:03d}_{cat.name}"
                series_dir.mkdir(parents=True, exist_ok=True)
                encapsulated = ser.ts in (RLELossless, JPEGLSLossless, JPEG2000Lossless)
                for i in range(ser.count):
                    sop = _uid(seed, "sop", p, s, q, i)
                    sop_uids.add(sop)
                    meta = FileMetaDataset()
                    meta.MediaStorageSOPClassUID = cat.sop_class
                    meta.MediaStorageSOPInstanceUID = sop
                    meta.TransferSyntaxUID = ser.ts
                    ds = Dataset()
                    ds.file_meta = meta
                    ds.SpecificCharacterSet = "ISO_IR 100"
                    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL" if cat.modality == "CT"
                                    else "OTHER"]
                    ds.SOPClassUID = cat.sop_class
                    ds.SOPInstanceUID = sop
                    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
                    ds.StudyTime = ds.SeriesTime = tm
                    ds.ContentTime = f"{tm[:4]}{i % 60:02d}"
                    ds.AccessionNumber = accession
                    ds.Modality = cat.modality
                    ds.Manufacturer, ds.ManufacturerModelName = maker[0], maker[1]
                    ds.SoftwareVersions = maker[2]
                    ds.InstitutionName = "Benchmark General Hospital"
                    ds.StationName = f"{cat.modality}{(p + s) % 3 + 1:02d}"
                    ds.DeviceSerialNumber = f"SN{zlib.crc32(maker[1].encode()) % 99991:05d}"
                    ds.ReferringPhysicianName = "REF^DOCTOR"
                    ds.StudyDescription = f"{modality} study"
                    ds.SeriesDescription = f"{cat.name} series {q + 1}"
                    ds.PatientName, ds.PatientID = name, pid
                    ds.PatientBirthDate, ds.PatientSex = dob, sex
                    ds.BodyPartExamined = "CHEST" if cat.modality in ("CT", "CR", "DX") \
                        else "HEAD"
                    ds.StudyInstanceUID = study_uid
                    ds.SeriesInstanceUID = ser.uid
                    ds.StudyID = f"{s + 1}"
                    ds.SeriesNumber = q + 1
                    ds.InstanceNumber = i + 1
                    if cat.modality in ("CT", "MR"):
                        ds.SliceThickness = 1.25 if cat.rows >= 512 else 5.0
                        ds.ImagePositionPatient = [-160.0, -160.0, -100.0 + 1.25 * i]
                        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
                        ds.FrameOfReferenceUID = _uid(seed, "for", p, s)
                        ds.PixelSpacing = [0.7, 0.7]
                        ds.SliceLocation = -100.0 + 1.25 * i
                    if cat.modality == "CT":
                        ds.KVP = 120
                        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
                        ds.WindowCenter, ds.WindowWidth = 40, 400
                    elif cat.modality == "MR":
                        ds.RepetitionTime, ds.EchoTime = 500.0, 14.0
                        ds.MagneticFieldStrength = 3
                    else:
                        ds.ImagerPixelSpacing = [0.15, 0.15]
                    _image_attrs(ds, cat)
                    offset = int(rng.integers(0, 65536))
                    if encapsulated:
                        ds.PixelData = templates.get(cat, ser.ts, pixels[cat.name], i)
                        ds["PixelData"].VR = "OB"
                        ds["PixelData"].is_undefined_length = True
                        if ser.ts != RLELossless:
                            ds.LossyImageCompression = "00"
                    else:
                        ds.PixelData = pixels[cat.name].array(offset).tobytes()
                        ds["PixelData"].VR = "OW" if cat.bits == 16 else "OB"
                    path = series_dir / f"IM{i + 1:05d}.dcm"
                    ds.save_as(path, enforce_file_format=True)
                    size = path.stat().st_size
                    sizes.append(size)
                    ts_files[ser.ts.name] += 1
                    ts_bytes[ser.ts.name] += size
                    cat_files[cat.name] += 1
    return {"patients": len(patients), "studies": n_studies, "series": n_series,
            "sizes": sizes, "ts_files": ts_files, "ts_bytes": ts_bytes,
            "cat_files": cat_files, "unique_sop": len(sop_uids)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="folder to create (must be empty or absent)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--files", type=int, default=5000,
                    help="approximate number of instances (scales every category)")
    ap.add_argument("--force", action="store_true", help="delete OUT first if it exists")
    ap.add_argument("--only", help="comma-separated categories (e.g. ct-low,ct-128 for a "
                    "small-file archive); the number of files is kept")
    args = ap.parse_args()
    out: Path = args.out.resolve()
    if out.exists() and any(out.iterdir()):
        if not args.force:
            print(f"{out} is not empty; use --force to replace it", file=sys.stderr)
            return 2
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    need = 2.2e9 * args.files / 5000
    free = shutil.disk_usage(out).free
    if free < need * 1.2:
        print(f"only {free / 1e9:.1f} GB free at {out}; need about {need / 1e9:.1f} GB",
              file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    only = frozenset(args.only.split(",")) if args.only else None
    if only and not only <= {c.name for c in CATEGORIES}:
        print(f"--only: unknown category in {args.only}", file=sys.stderr)
        return 2
    r = generate(out, args.seed, args.files / 5000, only)
    dt = time.perf_counter() - t0
    sizes = np.array(r["sizes"])
    total = int(sizes.sum())
    print(f"archive: {out}")
    print(f"seed {args.seed}: {len(sizes)} instances ({r['unique_sop']} unique SOP Instance "
          f"UIDs), {r['patients']} patients, {r['studies']} studies, {r['series']} series")
    print(f"total {total:,} bytes ({total / 1e9:.2f} GB); file sizes min "
          f"{sizes.min() / 1e3:.1f} kB,"
          f" median {np.median(sizes) / 1e3:.1f} kB, max {sizes.max() / 1e6:.2f} MB")
    print("transfer syntaxes:")
    for name, n in sorted(r["ts_files"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d} files {r['ts_bytes'][name] / 1e6:9.1f} MB  {name}")
    print("categories: " + ", ".join(f"{k} {v}" for k, v in r["cat_files"].items()))
    print(f"generated in {dt:.1f} s")
    os.sync()
    return 0


if __name__ == "__main__":
    sys.exit(main())
