"""An expected failure is one line on standard error and exit status 2, never a traceback
(pacsguard/cli/common.py ``friendly``), as the installed console script shows it."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import assert_one_clean_error_line, script


def test_console_script_error_has_no_traceback(tmp_path: Path) -> None:
    p = script("verify", "--data-dir", tmp_path / "nohome", tmp_path)
    assert_one_clean_error_line(p, "pacsguard init")


def test_console_script_error_is_one_line_even_when_longer_than_80_columns(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-for-an-archive-" * 3) / "home"
    p = script("record", "--data-dir", deep, tmp_path, columns=None)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
