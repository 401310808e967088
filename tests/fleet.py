"""A hospital's imaging fleet for the inventory and advisory tests: the real scanner files
shipped with the demo, plus synthetic images from machines the CISA advisories name."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from pacsguard.demo.scenario import PATIENTS, _ct_slice

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "pacsguard" / "demo" / "samples"
CSAF = Path(__file__).resolve().parent / "data" / "csaf" / "cisa-icsma"
#: CISA advisories the 138 of ``CSAF`` lack (tests/data/csaf/PROVENANCE.md)
CSAF_LATER = CSAF.parent / "cisa-icsma-later"


@dataclass(frozen=True)
class Equip:
    manufacturer: str
    model: str
    software: tuple[str, ...]
    serial: str = ""
    station: str = ""
    institution: str = "Test General Hospital"
    modality: str = "CT"


VUE_PACS_OLD = Equip("Philips", "Vue PACS", ("12.1.6.1000",), "VUE-01", "PACSWS1", modality="OT")
VUE_PACS_NEW = Equip("Philips", "Vue PACS", ("12.3.0.2000",), "VUE-02", "PACSWS2", modality="OT")
OPTIMA_CT = Equip("GE MEDICAL SYSTEMS", "Optima CT660", ("gmp_vct.43", "sw 22.1"), "CT660-7")
OPTIMA_640 = Equip("GE Healthcare", "Optima 640", ("ea3.5",), "OPT640-1", modality="DX")
SPECT_XP = Equip("SIEMENS", "Symbia.net", ("VA60A", "Windows XP SP3"), "", "SPECTWS1",
                 modality="NM")
ISCV = Equip("Philips Medical Systems", "IntelliSpace Cardiovascular", ("2.3.0",), "ISCV-1",
             modality="XA")


def write_images(folder: Path, eq: Equip, n: int, seed: int = 7) -> list[Path]:
    """``n`` small CT-shaped images that carry ``eq``'s equipment facts."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    out = []
    for i in range(n):
        ds = _ct_slice(PATIENTS[i % len(PATIENTS)], study, series, i, rng)
        ds.Manufacturer, ds.ManufacturerModelName = eq.manufacturer, eq.model
        ds.SoftwareVersions = list(eq.software) if len(eq.software) > 1 else eq.software[0]
        ds.DeviceSerialNumber, ds.StationName = eq.serial, eq.station
        ds.InstitutionName, ds.Modality = eq.institution, eq.modality
        p = folder / f"IM{i:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        out.append(p)
    return out


def build_fleet(root: Path) -> Path:
    """The real samples and one folder per synthetic machine, under ``root``."""
    shutil.copytree(SAMPLES, root / "real")
    for name, eq in [("vue-old", VUE_PACS_OLD), ("vue-new", VUE_PACS_NEW),
                     ("optima-ct", OPTIMA_CT), ("optima-640", OPTIMA_640),
                     ("spect-xp", SPECT_XP), ("iscv", ISCV)]:
        write_images(root / name, eq, 3)
    return root
