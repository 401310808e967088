"""No false positives on real modality files (the copies shipped in the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsguard.findings import Severity
from pacsguard.scan import disarm_bytes, scan_file
from tests.fleet import SAMPLES, build_fleet

REAL = sorted(SAMPLES.rglob("*.dcm"))


def test_the_real_samples_are_there() -> None:
    assert len(REAL) >= 15


@pytest.mark.parametrize("path", REAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_scan_finds_nothing_above_info_in_real_file(path: Path) -> None:
    result = scan_file(path)
    assert result.dicom
    assert [f for f in result.findings if f.severity > Severity.INFO] == []
    assert result.exit_status == 0 and not result.blocking(Severity.LOW)


def test_scan_explains_the_only_info_finding_on_real_files() -> None:
    # deid-data's ctbrain2 carries elements in group 0007, which PS3.5 §7.8.1 reserves: a
    # real (harmless) non-conformance, reported as info
    infos = {p.name: [f.id for f in scan_file(p).findings] for p in REAL}
    assert {name: found for name, found in infos.items() if found} == {
        "ctbrain2.dcm": ["STRUCT-ILLEGAL-GROUP"]}


def test_disarming_a_real_file_changes_nothing_but_the_preamble() -> None:
    for path in REAL:
        data = path.read_bytes()
        assert disarm_bytes(data).data[128:] == data[128:]


def test_scan_finds_nothing_in_the_synthetic_fleet(tmp_path: Path) -> None:
    root = build_fleet(tmp_path / "fleet")  # the real samples and synthetic machines
    for path in sorted(root.rglob("*.dcm")):
        assert scan_file(path).clean, path


@pytest.mark.parametrize("name", ["deid-data/ctbrain1.dcm", "dcm4che/MR-JPEGLosslessSV1.dcm",
                                  "pydicom-data/MR-SIEMENS-DICOM-WithOverlays.dcm"])
def test_scan_finds_payloads_planted_in_real_files_at_any_depth(name: str,
                                                                tmp_path: Path) -> None:
    import pydicom
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(SAMPLES / name)
    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(56)
    ds.add_new(0x00090010, "LO", "PACSGUARD TEST")
    ds.add_new(0x00091001, "OB", elf)
    sequences = [e for e in ds.iterall() if e.VR == "SQ" and len(e.value)]
    item: Dataset = sequences[-1].value[0] if sequences else ds
    item.add_new(0x00110010, "LO", "PACSGUARD TEST")
    item.add_new(0x00111001, "OB", elf)
    out = tmp_path / "planted.dcm"
    ds.save_as(out)
    hits = [f for f in scan_file(out).findings if f.id == "HIDDEN-EXECUTABLE"]
    assert len(hits) == 2, scan_file(out).findings
