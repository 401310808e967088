"""The patch status use cases (pacsguard.app.patch): what is open and overdue per machine, as
the status table and the governance report show it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pacsguard.app import alerts, inventory, patch
from pacsguard.errors import ConfigError
from pacsguard.inventory.passive import SyncReport
from pacsguard.reports.status import ItemState, Rating
from pacsguard.workspace import Workspace
from tests.app.helpers import copy_of, recorded_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_site(tmp_path_factory.mktemp("app-patch"))


@pytest.fixture
def ws(site: Path, tmp_path: Path) -> Workspace:
    return copy_of(site, tmp_path)


def test_the_day_is_today_unless_given_and_a_wrong_one_is_named() -> None:
    assert patch.as_of("") == dt.date.today()
    assert patch.as_of("2026-11-27") == dt.date(2026, 11, 27)
    with pytest.raises(ConfigError, match="--today 'tomorrow' is not a date"):
        patch.as_of("tomorrow")


def test_a_row_counts_what_is_open_and_overdue_for_its_machine(ws: Workspace) -> None:
    vue = next(m.id for m in inventory.list_machines(ws).machines
               if m.serial_number == "VUE-01")
    before = patch.status(ws, "2026-11-27")
    row = next(r for r in before.rows if r.machine_id == vue)
    assert (row.open, row.overdue) == (1, 1)  # ICSMA-21-187-01, no decision for years
    assert row.advisories[0].startswith("ICSMA-21-187-01 affected (overdue: no decision ")
    alerts.decide(ws, "ICSMA-21-187-01", vue, "mitigated",
                  {"what": "own VLAN", "until": "2099-01-01"}, "PACS manager")
    after = patch.status(ws, "2026-11-27")
    row = next(r for r in after.rows if r.machine_id == vue)
    assert (row.open, row.overdue) == (1, 0) and "12.3 or later" in row.fixes
    assert row.risk in tuple(Rating) and row.risk_score == row.likelihood * row.consequence
    [status] = [s for s in after.machines if s.machine.id == vue]
    assert [i.state for i in status.items] == [ItemState.OPEN]
    assert [r.machine_id for r in after.rows] == [s.machine.id for s in after.machines]
    assert after.today == dt.date(2026, 11, 27) and after.overdue_days == 30


def test_status_folds_the_images_in_before_it_reads_the_day(ws: Workspace) -> None:
    heard: list[SyncReport] = []
    with pytest.raises(ConfigError, match="--today 'x'"):
        patch.status(ws, "x", on_sync=heard.append)
    assert heard and heard[0].new_machines > 0
    assert inventory.list_machines(ws, sync=False).machines  # the sync was kept


def test_the_report_reads_the_day_before_it_writes_anything(ws: Workspace) -> None:
    heard: list[SyncReport] = []
    with pytest.raises(ConfigError, match="--today 'x'"):
        patch.report(ws, "x", on_sync=heard.append)
    assert heard == [] and inventory.list_machines(ws, sync=False).machines == ()


def test_the_report_carries_the_ledgers_origin_and_every_machine(ws: Workspace) -> None:
    data = patch.report(ws, "2026-11-27", 10)
    assert data.origin == "t.local/ledger" and data.overdue_days == 10
    assert len(data.machines) == len(inventory.list_machines(ws, sync=False).machines)
