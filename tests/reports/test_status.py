"""Patch status and risk per machine: what is open, overdue or closed, and why
(pacsguard/reports/status.py), on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from pacsguard.advisories.decisions import record_decision
from pacsguard.reports.status import patch_status
from tests.governance import TODAY, machine


@pytest.fixture
def engine(governance_engine: Engine) -> Engine:
    return governance_engine


def test_overdue_rules(engine: Engine) -> None:
    cv = machine(engine, "ISCV-1")
    record_decision(engine, "ICSMA-18-025-01", cv.id, "mitigated",
                    {"what": "firewall", "until": "2026-01-01"}, "me")
    record_decision(engine, "ICSMA-17-318-01", cv.id, "not_applicable",
                    {"why": "module not licensed"}, "me")
    [s] = [s for s in patch_status(engine, TODAY, overdue_days=30) if s.machine.id == cv.id]
    states = {i.match.tracking_id: (i.state, i.why) for i in s.items}
    assert states["ICSMA-18-025-01"][0] == "overdue"
    assert "mitigation expired on 2026-01-01" in states["ICSMA-18-025-01"][1]
    assert states["ICSMA-17-318-01"][0] == "closed"
    assert states["ICSMA-18-226-01"][0] == "overdue"
    assert "no decision" in states["ICSMA-18-226-01"][1]
    # the same advisory, judged the day after it was published, is only open
    young = patch_status(engine, dt.date(2018, 9, 1), overdue_days=30)
    [y] = [s for s in young if s.machine.id == cv.id]
    assert {i.state for i in y.items if i.match.tracking_id == "ICSMA-18-226-01"} == {"open"}
    assert "later than 2.3.0" in {f for i in s.items for f in i.match.fixes}


def test_risk_is_likelihood_times_consequence_with_reasons(engine: Engine) -> None:
    by_id = {s.machine.id: s for s in patch_status(engine, TODAY)}
    vue = by_id[machine(engine, "VUE-01").id]
    assert (vue.risk.likelihood, vue.risk.consequence) == (5, 5)  # CVSS 9.8 on a PACS
    assert vue.risk.score == 25 and vue.risk.rating == "extreme"
    assert any("CVSS 9.8" in r for r in vue.risk.reasoning)
    new = by_id[machine(engine, "VUE-02").id]
    assert new.risk.likelihood == 1 and new.risk.rating in ("low", "moderate")
