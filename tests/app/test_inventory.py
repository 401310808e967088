"""The inventory use cases (pacsguard.app.inventory), called as a web page or a scheduler would
call them: plain arguments in, frozen results out, nothing printed."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pacsguard.app import inventory
from pacsguard.errors import ConfigError
from pacsguard.inventory.passive import SyncReport
from pacsguard.store.schema import discoveries, machines
from pacsguard.workspace import Workspace
from tests.app.helpers import copy_of, recorded_site
from tests.peers import free_port


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_site(tmp_path_factory.mktemp("app-inventory"))


@pytest.fixture
def ws(site: Path, tmp_path: Path) -> Workspace:
    return copy_of(site, tmp_path)


def _machines_stored(ws: Workspace) -> int:
    ledger, _, _ = ws.open_ledger()
    with ledger.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(machines)).scalar_one())


def test_listing_folds_the_new_images_in_first_and_says_so_before_it_reads(
        ws: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    heard: list[SyncReport] = []
    found = inventory.list_machines(ws, on_sync=heard.append)
    assert len(heard) == 1 and heard[0].entries > 0
    assert heard[0].new_machines == len(found.machines) > 0
    assert isinstance(found.machines, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.unattributed = 0  # type: ignore[misc]
    again: list[SyncReport] = []
    inventory.list_machines(ws, on_sync=again.append)
    assert again[0].entries == 0  # nothing new the second time
    assert capsys.readouterr() == ("", "")  # the application layer never prints


def test_listing_without_sync_reads_the_inventory_as_it_stands(ws: Workspace) -> None:
    heard: list[SyncReport] = []
    assert inventory.list_machines(ws, sync=False, on_sync=heard.append).machines == ()
    assert heard == []


def test_showing_an_unknown_machine_fails_after_the_sync_it_reported(ws: Workspace) -> None:
    heard: list[SyncReport] = []
    with pytest.raises(ConfigError, match="no machine with id 99999"):
        inventory.show_machine(ws, 99999, on_sync=heard.append)
    assert heard and heard[0].new_machines > 0
    assert _machines_stored(ws) == heard[0].new_machines  # the sync was kept


def test_a_machine_shows_its_versions_in_the_order_first_seen(ws: Workspace) -> None:
    vue = next(m for m in inventory.list_machines(ws).machines if m.serial_number == "VUE-01")
    history = inventory.show_machine(ws, vue.id)
    assert history.machine == vue
    assert [v.software_versions for v in history.versions] == [("12.1.6.1000",)]
    assert history.events == ()


def test_the_register_exported_imports_back_unchanged(ws: Workspace, tmp_path: Path) -> None:
    text = inventory.export_register(ws)
    assert text.startswith("id,manufacturer,model,")
    (tmp_path / "register.csv").write_text(text)
    report = inventory.import_register(ws, tmp_path / "register.csv")
    assert report.updated == report.created == 0 and report.unchanged > 0


def test_a_register_that_cannot_be_read_is_named(ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"cannot read {tmp_path / 'none.csv'}"):
        inventory.import_register(ws, tmp_path / "none.csv")


def test_discovery_refuses_every_target_before_it_contacts_any(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="never scanned"):
        inventory.discover(ws, ["127.0.0.1:104", "10.1.0.0/16:104"])
    ledger, _, _ = ws.open_ledger()
    with ledger.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(discoveries)).scalar_one() == 0


def test_a_node_that_does_not_answer_is_recorded_as_not_reachable(ws: Workspace) -> None:
    found = inventory.discover(ws, [f"127.0.0.1:{free_port()}"], timeout=1.0)  # none listens
    assert not found.all_reachable
    [node] = found.nodes
    assert node.machine_id is None and node.findings[0].startswith("not reachable")


def test_a_machine_source_this_version_does_not_know_is_shown_as_stored(
        ws: Workspace) -> None:
    """A database shared with a newer pacsguard may name other sources: shown, not refused."""
    inventory.sync(ws)
    db = sqlite3.connect(ws.data_dir / "ledger.sqlite")
    db.execute("UPDATE machines SET source = 'gateway' WHERE id = 1")
    db.commit()
    db.close()
    [m] = [m for m in inventory.list_machines(ws).machines if m.id == 1]
    assert m.source == "gateway"
