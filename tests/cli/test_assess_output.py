"""The assessment's terminal output pinned byte for byte, colours included, before it moved
to :mod:`pacsguard.render`: the target line, each section's facts (or why it did not run, or
its gap), the findings under a rule, and the verdict; what an interrupted assessment says on
standard error; a replay's answer and findings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pacsguard.app.assess import Replayed
from pacsguard.assess.fuzz import Replay
from pacsguard.assess.model import Fact, Section
from pacsguard.assess.net import Liveness, LivenessState
from pacsguard.cli.assess import _render, _render_interrupted, _render_replay
from pacsguard.findings import Finding, Severity
from tests.cli.terminal import assert_pinned, terminal
from tests.render.samples import assessment


@pytest.mark.parametrize("complete", [True, False])
def test_the_assessment_on_a_terminal_is_as_pinned(monkeypatch: pytest.MonkeyPatch,
                                                   complete: bool) -> None:
    t = terminal(monkeypatch)
    _render(assessment(complete))
    assert_pinned(f"assess{'' if complete else '-incomplete'}.ans", t.out())
    assert t.err() == ""


def test_a_section_run_in_part_says_what_it_left_out_as_pinned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    t = terminal(monkeypatch)
    a = assessment(False)
    partial = Section("fuzz", "Fuzzing", facts=(Fact("cases", "12 [of 50]"),),
                      incomplete=True, gap="38 cases [not sent]")
    _render(dataclasses.replace(a, sections=(*a.sections[:3], partial)))
    assert_pinned("assess-gap.ans", t.out())


CLEANUP = Section("cleanup", "Cleanup", (Finding(
    "WRITE-LEFT-BEHIND", Severity.LOW, "Test instances left", "2 of 3 [test] instances remain",
    "Delete them by hand."),), (Fact("deleted", "1"), Fact("left", "2 <b>")))


@pytest.mark.parametrize(("name", "cleanup", "allow_write"), [
    ("nothing", None, False), ("nothing-written", None, True), ("cleanup", CLEANUP, True),
    ("skipped", Section("cleanup", "Cleanup", skipped="no web API [given]"), True)])
def test_an_interrupted_assessment_says_what_it_left_as_pinned(
        monkeypatch: pytest.MonkeyPatch, name: str, cleanup: Section | None,
        allow_write: bool) -> None:
    t = terminal(monkeypatch)
    _render_interrupted(cleanup, allow_write)
    assert t.out() == ""
    assert_pinned(f"assess-interrupted-{name}.ans", t.err())


@pytest.mark.parametrize("crashed", [False, True])
def test_a_replay_on_a_terminal_is_as_pinned(monkeypatch: pytest.MonkeyPatch,
                                             crashed: bool) -> None:
    t = terminal(monkeypatch)
    alive = Liveness(LivenessState.ALIVE, "C-ECHO [0x0000]", 0.01)
    refused = Liveness(LivenessState.REFUSED, "connection refused", 0.01)
    findings = (Finding("FUZZ-CRASH", Severity.CRITICAL, "Crash", "the node [stopped]",
                        "Report it."),) if crashed else ()
    done = Replayed("127.0.0.1:11112", Replay("A-ABORT [source 2]", refused if crashed
                                              else alive, alive), findings)
    _render_replay(Path("case-0007 [x].bin"), done)
    assert_pinned(f"assess-replay{'-crashed' if crashed else ''}.ans", t.out())
