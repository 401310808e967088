"""What the application-layer tests share: a data directory with a small real archive, and a
site whose fleet is recorded (not yet folded into the inventory) and the CISA advisories
imported, built once and copied for each test that changes it."""

from __future__ import annotations

import shutil
from pathlib import Path

from pacsguard.advisories.store import import_paths
from pacsguard.integrity.record import record
from pacsguard.workspace import Workspace
from tests.fleet import CSAF, OPTIMA_CT, SAMPLES, build_fleet, write_images

ORIGIN = "app.test.pacsguard.local/ledger"
#: a real scanner file, shipped with the demo
SCANNER_FILE = "deid-data/ctbrain1.dcm"


def small_archive(folder: Path, images: int = 3) -> list[Path]:
    """One real scanner file and ``images`` synthetic CT images, under ``folder``."""
    real = folder / "scanner" / Path(SCANNER_FILE).name
    real.parent.mkdir(parents=True)
    shutil.copyfile(SAMPLES / SCANNER_FILE, real)
    return [real, *write_images(folder / "ct", OPTIMA_CT, images)]


def new_workspace(folder: Path) -> Workspace:
    """An initialised data directory with an empty SQLite ledger."""
    ws = Workspace(folder)
    ws.init(origin=ORIGIN)
    return ws


def recorded_site(root: Path) -> Path:
    """The data directory of a site whose images are recorded and advisories imported."""
    ws = Workspace(root / "home")
    ws.init(origin="t.local/ledger")
    ledger, profile, key = ws.open_ledger()
    list(record(ledger, profile, key, [build_fleet(root / "fleet")], workers=1))
    list(import_paths(ledger.engine, [CSAF]))
    ledger.engine.dispose()
    return ws.data_dir


def copy_of(site: Path, where: Path) -> Workspace:
    """A workspace of its own over a copy of ``site`` (its SQLite ledger is inside it)."""
    shutil.copytree(site, where / "home")
    return Workspace(where / "home")
