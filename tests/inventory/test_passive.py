"""Passive discovery: machines, version history and patch events from the recorded images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pacsguard.dicom.equipment import Equipment
from pacsguard.integrity.record import record
from pacsguard.inventory.machines import list_machines, unattributed_images, version_history
from pacsguard.inventory.passive import machine_identity, sync, version_direction
from pacsguard.workspace import Workspace
from tests.fleet import OPTIMA_CT, SAMPLES, VUE_PACS_OLD, Equip, write_images


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ws(request: pytest.FixtureRequest, data_dir: Path) -> Workspace:
    ws = Workspace(data_dir)
    if request.param == "postgresql":
        ws.init(database_url=request.getfixturevalue("postgres_url"), origin="t.local/ledger")
    else:
        ws.init(origin="t.local/ledger")
    return ws


@pytest.fixture
def engine(ws: Workspace) -> Iterator[Engine]:
    ledger, _, _ = ws.open_ledger()
    yield ledger.engine
    ledger.engine.dispose()


def _record(ws: Workspace, *roots: Path) -> None:
    ledger, profile, key = ws.open_ledger()
    try:
        list(record(ledger, profile, key, list(roots), workers=1))
    finally:
        ledger.engine.dispose()


def test_real_scanner_files_become_one_machine_each_with_their_facts(ws: Workspace,
                                                                    engine: Engine) -> None:
    _record(ws, SAMPLES)
    report = sync(engine)
    machines = list_machines(engine)
    assert report.new_machines == len(machines) > 8
    by_model = {m.model: m for m in machines}
    siemens = by_model["SOMATOM Definition AS+"]
    assert siemens.vendor == "Siemens Healthineers" and siemens.manufacturer == "SIEMENS"
    assert siemens.software_versions == ("syngo CT VA48A",)
    assert siemens.modalities == ("CT",) and siemens.image_count >= 1
    assert by_model["MILLENNIUM MG"].vendor == "GE Healthcare"
    assert sum(m.image_count for m in machines) + unattributed_images(engine) == \
        report.entries


def test_sync_is_incremental_and_never_counts_an_image_twice(ws: Workspace, engine: Engine,
                                                             tmp_path: Path) -> None:
    write_images(tmp_path / "a", VUE_PACS_OLD, 4)
    _record(ws, tmp_path / "a")
    assert sync(engine).entries == 4
    assert sync(engine).entries == 0
    write_images(tmp_path / "b", VUE_PACS_OLD, 3, seed=2)
    _record(ws, tmp_path / "b")
    assert sync(engine).entries == 3
    [m] = list_machines(engine)
    assert m.image_count == 7
    assert m.first_seen <= m.last_seen
    write_images(tmp_path / "c", Equip("", "", ("",), institution=""), 2, seed=4)
    _record(ws, tmp_path / "c")
    assert sync(engine).unattributed == 2
    assert unattributed_images(engine) == 2 and len(list_machines(engine)) == 1


def test_one_scanner_named_two_ways_is_one_machine(ws: Workspace, engine: Engine,
                                                   tmp_path: Path) -> None:
    """GE images say "GE MEDICAL SYSTEMS" on older software and "GE Healthcare" on newer."""
    write_images(tmp_path / "old", OPTIMA_CT, 2)
    renamed = Equip("GE Healthcare", "Optima CT660", ("gmp_vct.44",), OPTIMA_CT.serial)
    write_images(tmp_path / "new", renamed, 2, seed=3)
    _record(ws, tmp_path / "old")
    _record(ws, tmp_path / "new")
    sync(engine)
    [m] = list_machines(engine)
    assert m.image_count == 4 and m.software_versions == ("gmp_vct.44",)


def test_a_new_software_version_is_a_patch_event_upward_or_downward(
        ws: Workspace, engine: Engine, tmp_path: Path) -> None:
    for n, version in enumerate(["12.1.6.1000", "12.2.8.410", "12.1.6.1000", "12.0.1"]):
        eq = Equip("Philips", "Vue PACS", (version,), "VUE-9", "WS9", modality="OT")
        write_images(tmp_path / f"v{n}", eq, 2, seed=10 + n)
        _record(ws, tmp_path / f"v{n}")
        sync(engine)  # one sync per delivery, as after each record run
    [m] = list_machines(engine)
    assert m.software_versions == ("12.0.1",)
    seen, events = version_history(engine, m.id)
    assert [s.software_versions for s in seen] == [("12.1.6.1000",), ("12.2.8.410",),
                                                   ("12.0.1",)]
    assert [(e.from_versions, e.to_versions, e.direction) for e in events] == [
        (("12.1.6.1000",), ("12.2.8.410",), "up"),
        (("12.1.6.1000",), ("12.0.1",), "down"),
    ]
    assert all(e.leaf_index is not None for e in events)


def test_a_sync_interrupted_before_commit_leaves_the_inventory_as_it_was(
        ws: Workspace, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pacsguard.inventory import passive

    write_images(tmp_path / "a", VUE_PACS_OLD, 3)
    _record(ws, tmp_path / "a")

    def boom(*_a: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(passive, "_set_state", boom)
    with pytest.raises(RuntimeError):
        sync(engine)
    assert list_machines(engine) == []
    monkeypatch.undo()
    assert sync(engine).entries == 3
    assert list_machines(engine)[0].image_count == 3


@pytest.mark.parametrize(("eq", "kind"), [
    (Equipment("SIEMENS", "Avanto", ("syngo MR B17",), "12345", "MR1"), "serial"),
    (Equipment("Philips", "EPIQ 7C", (), "", "US3", "Hosp"), "station"),
    (Equipment("", "", (), "", "", "Hosp"), None),
])
def test_identity_prefers_the_serial_number(eq: Equipment, kind: str | None) -> None:
    ident = machine_identity(eq)
    assert (ident[0] if ident else None) == kind


@pytest.mark.parametrize(("old", "new", "direction"), [
    ("syngo CT VA44A", "syngo CT VA48A", "up"),
    ("EPIQ 7C_1.7.1.24", "EPIQ 7C_1.5.6.850", "down"),
    ("RTNC1", "", "unknown"),
])
def test_version_direction(old: str, new: str, direction: str) -> None:
    assert version_direction(old, new) == direction
