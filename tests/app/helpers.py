"""What the application-layer tests share: a data directory with a small real archive."""

from __future__ import annotations

import shutil
from pathlib import Path

from pacsguard.workspace import Workspace
from tests.fleet import OPTIMA_CT, SAMPLES, write_images

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
