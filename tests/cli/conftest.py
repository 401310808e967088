"""Fixtures of the command-line tests: a data directory, a small archive of real files
(tests/cli/helpers.py ``build``), and the two together after ``init`` and ``record``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import ORIGIN, build, run


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    a = tmp_path / "archive"
    build(a)
    return a


@pytest.fixture
def recorded(home: Path, archive: Path) -> Path:
    """An initialised data directory with ``archive`` recorded in it."""
    r = run("init", "--data-dir", home, "--origin", ORIGIN)
    assert r.exit_code == 0, r.output
    r = run("record", "--data-dir", home, "--workers", "1", archive)
    assert r.exit_code == 0, r.output
    return home
