"""A site for the application layer's use cases: the fleet recorded (not yet folded into the
inventory) and the CISA advisories imported, built once and copied for each test that
changes it."""

from __future__ import annotations

import shutil
from pathlib import Path

from pacsguard.advisories.store import import_paths
from pacsguard.integrity.record import record
from pacsguard.workspace import Workspace
from tests.fleet import CSAF, build_fleet


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
