"""The governance report as an HTML page (pacsguard/render/html.py ``governance_page``), drawn
from the patch status of the governance fleet, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from pacsguard.advisories.decisions import record_decision
from pacsguard.advisories.match import MatchStatus
from pacsguard.render.html import governance_page
from pacsguard.reports.governance import governance_report
from pacsguard.reports.status import patch_status
from tests.governance import TODAY, machine


@pytest.fixture
def engine(governance_engine: Engine) -> Engine:
    return governance_engine


def test_the_html_report_is_one_escaped_self_contained_page(engine: Engine) -> None:
    vue = machine(engine, "VUE-01")
    record_decision(engine, "ICSMA-21-187-01", vue.id, "mitigated",
                    {"what": "<script>alert(1)</script>", "until": "2027-01-01"}, "me")
    html = governance_page(governance_report(patch_status(engine, TODAY), "t.local/ledger",
                                             TODAY, 30))
    assert html.startswith("<!DOCTYPE html>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "ICSMA-21-187-01" in html and "Philips Vue PACS (SN VUE-01)" in html
    assert "What is overdue" in html and "NHS 5&times;5" in html
    assert "http://" not in html.split("<body>")[0] and "<link" not in html  # no external CSS
    assert MatchStatus.AFFECTED.value in html
