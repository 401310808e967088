"""scan's output pinned byte for byte in each format before it moved to
:mod:`pacsguard.render`: on a terminal the notes as files are disarmed, the findings table
(worst first), what to do and the coloured summary line; JSON lines of findings on standard
output with the summary on standard error; CSV. One worker, so that the order is the
walk's."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

import tests.scan.polyglots
from pacsguard.cli.scan import scan_cmd
from tests.cli.terminal import assert_pinned, terminal
from tests.scan.polyglots import archive, clean_file


@pytest.fixture(autouse=True)
def same_uids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test files' UIDs the same every run, so that offsets in evidence are too."""
    uids = (f"1.2.826.0.1.3680043.8.498.{n}" for n in range(1, 1000))
    monkeypatch.setattr(tests.scan.polyglots, "generate_uid", lambda: next(uids))


def _scan(tmp_path: Path, fmt: str, disarm: bool) -> int:
    root = archive(tmp_path / "archive")
    try:
        scan_cmd([root], output_format=fmt, disarm=tmp_path / "out" if disarm else None,
                 workers=1)
    except typer.Exit as exit_:
        return exit_.exit_code
    return 0


def _stable(text: str, tmp_path: Path) -> str:
    """The temporary folder as a placeholder."""
    return text.replace(str(tmp_path), "TMP")


@pytest.mark.parametrize(("fmt", "width", "disarm"), [
    ("table", 80, False), ("table", 1000, True), ("json", 80, True), ("csv", 1000, True)])
def test_scan_output_is_as_pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], fmt: str, width: int,
                                  disarm: bool) -> None:
    t = terminal(monkeypatch, width)
    assert _scan(tmp_path, fmt, disarm) == 6
    name = f"scan{'-disarm' if disarm else ''}.{fmt}"
    assert_pinned(f"{name}.out", _stable(t.out() + capsys.readouterr().out, tmp_path))
    assert_pinned(f"{name}.err", _stable(t.err(), tmp_path))


def test_a_clean_scan_on_a_terminal_is_as_pinned(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    t = terminal(monkeypatch)
    (tmp_path / "IM1.dcm").write_bytes(clean_file())
    scan_cmd([tmp_path], output_format="table", disarm=None, workers=1)
    assert_pinned("scan-clean.table.out", t.out())
