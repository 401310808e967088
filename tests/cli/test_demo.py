"""Specification of ``pacsguard demo`` (pacsguard/cli/demo.py)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import flat, run


def test_demo_detects_every_tampering(tmp_path: Path) -> None:
    r = run("demo", "--workdir", tmp_path / "demo")
    assert r.exit_code == 0, r.output
    assert "8 of 8 tamperings detected" in flat(r.stdout)
    assert "Traceback" not in r.output
