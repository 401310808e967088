"""The demo as a use case (pacsguard.app.demo): what a dashboard would call to show it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsguard.app.demo import run
from pacsguard.integrity.status import Status


def test_the_demo_catches_every_attack_and_says_so_without_printing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    story: list[str] = []
    result = run(tmp_path / "demo", story.append)
    assert capsys.readouterr() == ("", "")
    assert story[0].startswith("built a sample archive of ")
    assert "the attacker has been at work:" in story
    assert result.all_detected and result.detected == len(result.caught) == 8
    assert result.caught[-1].file == "(ledger database)"
    assert result.caught[-1].said == (Status.LEDGER_TAMPERED,)
    assert not result.report.ok and result.discrepancies[0].status is not Status.INTACT
    assert {c.expected for c in result.caught} >= {Status.CORRUPTED, Status.MISSING,
                                                    Status.LEDGER_TAMPERED}


def test_an_attack_pacsguard_did_not_see_is_counted_as_missed(tmp_path: Path) -> None:
    from pacsguard.app.demo import Caught

    missed = Caught("swapped nothing", "a.dcm", Status.PIXELS_ALTERED, ())
    seen = Caught("corrupted", "b.dcm", Status.CORRUPTED, (Status.CORRUPTED,))
    assert not missed.ok and seen.ok
