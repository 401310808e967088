"""The demo's output pinned byte for byte, colours included, before its tables moved to
:mod:`pacsguard.render`: the story, verify's report, and the table of what the attacker did
with a green or red verdict per row. On a wide terminal, so that the temporary folder's name
cannot change where lines wrap."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pacsguard.cli.demo import demo_cmd
from tests.cli.terminal import assert_pinned, terminal

_VARYING = [(re.compile(r"1\.2\.826\.0\.1\.3680043\.8\.498\.\d+"), "UID"),
            (re.compile(r"[0-9a-f]{16}…"), "HASH…"),
            (re.compile(r"[A-Za-z0-9+/]{40,}={0,2}"), "BASE64"),
            (re.compile(r" {2,}"), "  "), (re.compile("─+"), "─")]


def _stable(text: str, tmp_path: Path) -> str:
    """What changes from run to run (the key, signatures, roots, generated UIDs, and so the
    widths of the columns and rules that hold them) as placeholders: the text, its order and
    its colours are pinned, the widths by the other pins."""
    text = text.replace(str(tmp_path), "TMP")
    for pattern, placeholder in _VARYING:
        text = pattern.sub(placeholder, text)
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def test_the_demo_on_a_terminal_is_as_pinned(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    t = terminal(monkeypatch, width=1000)
    demo_cmd(workdir=tmp_path / "demo")
    assert_pinned("demo.ans", _stable(t.out(), tmp_path))
    assert t.err() == ""
