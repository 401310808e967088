"""The CLI's two consoles made into an 80-column colour terminal writing to strings, so that
a test sees exactly what a person at a terminal sees, colours included."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.color import ColorSystem

from pacsguard.cli.common import console, err_console


@dataclass(frozen=True)
class Terminal:
    stdout: io.StringIO
    stderr: io.StringIO

    def out(self) -> str:
        return self.stdout.getvalue()

    def err(self) -> str:
        return self.stderr.getvalue()


def terminal(monkeypatch: pytest.MonkeyPatch, width: int = 80) -> Terminal:
    """Both consoles, until the test ends: ``width`` columns, true colour, into strings."""
    t = Terminal(io.StringIO(), io.StringIO())
    for c, f in ((console, t.stdout), (err_console, t.stderr)):
        monkeypatch.setattr(c, "_file", f)
        monkeypatch.setattr(c, "_force_terminal", True)
        monkeypatch.setattr(c, "_color_system", ColorSystem.TRUECOLOR)
        monkeypatch.setattr(c, "_width", width)
    return t


PINNED = Path(__file__).parent / "pinned"


def assert_pinned(name: str, text: str) -> None:
    """``text`` is byte for byte the output pinned in ``pinned/NAME`` (written from the code
    before the move to :mod:`pacsguard.render`; ``PACSGUARD_WRITE_PINS=1`` rewrites it)."""
    path = PINNED / name
    if os.environ.get("PACSGUARD_WRITE_PINS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
