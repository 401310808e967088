"""Scanning on receipt (docs/gateway.md): an instance carrying an executable in a private
element, or a PDF with JavaScript, sent by dcmtk's storescu, is refused (default) or
quarantined, never queued for the PACS; clean images from the same sender still go through."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from tests.fleet import OPTIMA_CT, write_images
from tests.gateway.helpers import Gateway, storescu, uids
from tests.scan.polyglots import JS_PDF, encapsulated, pe_preamble, with_private


def _threats(folder: Path) -> dict[str, str]:
    """Two weaponised instances in ``folder``; their SOP Instance UIDs by kind. (No preamble
    trick: the network carries no preamble, only the data set.)"""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for kind, data in (("exe", with_private(pe_preamble()[:128] + b"\0" * 64)),
                       ("pdf", encapsulated(JS_PDF))):
        (folder / kind).mkdir()
        path = folder / kind / f"{kind}.dcm"
        path.write_bytes(data)
        out[kind] = str(dcmread(path).SOPInstanceUID)
    return out


def test_weaponised_instances_are_refused_and_kept_aside_clean_ones_pass(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    gw = start_gateway()
    clean = tmp_path / "clean"
    write_images(clean, OPTIMA_CT, 3)
    threats = _threats(tmp_path / "threats")
    for kind in threats:  # storescu halts at the first failure: one association each
        r = storescu(gw.port, tmp_path / "threats" / kind)
        assert r.returncode != 0, "storescu was told the store failed"
    assert storescu(gw.port, clean).returncode == 0
    assert gw.ledger_uids() == uids(clean)  # nothing weaponised was recorded
    assert len(gw.queued()) == 3
    kept = sorted((gw.spool / "quarantine").iterdir())
    assert len(kept) == 2 and all(p.suffix == ".rejected" for p in kept)
    assert {str(dcmread(p).SOPInstanceUID) for p in kept} == set(threats.values())
    rejected = [e for e in gw.audit_events() if e["event"] == "store_rejected"]
    found = {f for e in rejected for f in e["findings"]}  # type: ignore[attr-defined]
    assert "HIDDEN-EXECUTABLE" in found and any(f.startswith("CONTENT-PDF") for f in found)
    # each refusal names the instance (a UID, not patient data) and the file kept aside
    assert {e["sop_instance_uid"] for e in rejected} == set(threats.values())
    assert {e["file"] for e in rejected} == {p.name for p in kept}


def test_quarantine_mode_records_and_acknowledges_but_never_forwards(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    gw = start_gateway(tail='[scan]\non_threat = "quarantine"\n')
    threats = _threats(tmp_path / "threats")
    r = storescu(gw.port, tmp_path / "threats")
    assert r.returncode == 0, r.stdout + r.stderr
    assert gw.ledger_uids() == set(threats.values())  # recorded: evidence of what arrived
    assert gw.queued() == []
    kept = sorted((gw.spool / "quarantine").iterdir())
    assert {str(dcmread(p).SOPInstanceUID) for p in kept} == set(threats.values())
    quarantined = [e for e in gw.audit_events() if e["event"] == "quarantined"]
    assert {e["sop_instance_uid"] for e in quarantined} == set(threats.values())
    status = subprocess.run([sys.executable, "-m", "pacsguard.cli.main", "gateway", "status",
                             "--config", str(gw.home.parent / "gateway.toml")],
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "2 in quarantine" in status.stderr, status.stderr


def test_scanning_can_be_switched_off(start_gateway: Callable[..., Gateway],
                                      tmp_path: Path) -> None:
    gw = start_gateway(tail='[scan]\non_threat = "off"\n')
    threats = _threats(tmp_path / "threats")
    assert storescu(gw.port, tmp_path / "threats").returncode == 0
    assert gw.ledger_uids() == set(threats.values())
    assert len(gw.queued()) == 2
