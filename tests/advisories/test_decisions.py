"""Decisions on an advisory for a machine: append-only, hash-chained, checked as they are made,
and kept across re-imports and new revisions (pacsguard/advisories/decisions.py), on both
backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from pacsguard.advisories.decisions import all_decisions, check_chain, record_decision
from pacsguard.advisories.store import import_paths
from pacsguard.errors import ConfigError
from pacsguard.inventory.register import import_csv
from pacsguard.reports.status import patch_status
from pacsguard.store.schema import decisions
from tests.fleet import CSAF
from tests.governance import ADVISORIES, TODAY, machine


@pytest.fixture
def engine(governance_engine: Engine) -> Engine:
    return governance_engine


def test_decisions_are_appended_never_overwritten_and_the_newest_is_in_force(
        engine: Engine) -> None:
    vue = machine(engine, "VUE-01")
    record_decision(engine, "ICSMA-21-187-01", vue.id, "mitigated",
                    {"what": "own VLAN", "until": "2026-12-31"}, "PACS manager")
    record_decision(engine, "ICSMA-21-187-01", vue.id, "accepted_risk",
                    {"why": "replacement ordered", "review": "2027-03-01"}, "Clinical director")
    trail = all_decisions(engine)
    assert [d.kind for d in trail] == ["mitigated", "accepted_risk"]
    assert check_chain(engine) == []
    [s] = [s for s in patch_status(engine, TODAY) if s.machine.id == vue.id]
    [item] = s.items
    assert item.decision is not None and item.decision.kind == "accepted_risk"
    assert item.state == "open"


@pytest.mark.parametrize(("kind", "details", "reason"), [
    ("patched", {"date": "2026-11-01"}, "needs --version"),
    ("mitigated", {"what": "x", "until": "next week"}, "--until 'next week' is not a date"),
    ("fixed", {}, "use one of patched, mitigated"),
    ("not_applicable", {"why": "x", "version": "1"}, "does not take --version"),
])
def test_a_bad_decision_is_refused_with_the_reason(engine: Engine, kind: str,
                                                   details: dict[str, str], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        record_decision(engine, "ICSMA-21-187-01", machine(engine, "VUE-01").id, kind, details,
                        "me")
    assert all_decisions(engine) == []


def test_an_edited_decision_breaks_the_chain(engine: Engine) -> None:
    vue = machine(engine, "VUE-01")
    for why in ("a", "b", "c"):
        record_decision(engine, "ICSMA-21-187-01", vue.id, "not_applicable", {"why": why}, "me")
    middle = all_decisions(engine)[1].id
    with engine.begin() as conn:
        conn.execute(update(decisions).where(decisions.c.id == middle)
                     .values(decided_by="someone else"))
    problems = check_chain(engine)
    assert len(problems) == 1 and "does not chain" in problems[0]


def test_decisions_survive_reimport_and_a_new_revision(engine: Engine, tmp_path: Path) -> None:
    import json

    vue = machine(engine, "VUE-01")
    record_decision(engine, "ICSMA-21-187-01", vue.id, "patched",
                    {"date": "2026-11-01", "version": "12.2.8.410"}, "PACS manager")
    list(import_paths(engine, [CSAF / a for a in ADVISORIES]))  # same bytes again
    doc = json.loads((CSAF / "icsma-21-187-01.json").read_bytes())
    doc["document"]["tracking"]["version"] = "5"
    doc["document"]["tracking"]["current_release_date"] = "2026-11-20T00:00:00Z"
    doc["document"]["tracking"]["revision_history"].append(
        {"date": "2026-11-20T00:00:00Z", "number": "5", "summary": "Update"})
    (tmp_path / "rev5.json").write_text(json.dumps(doc))
    list(import_paths(engine, [tmp_path / "rev5.json"]))
    [s] = [s for s in patch_status(engine, TODAY) if s.machine.id == vue.id]
    [item] = s.items
    assert item.match.revision == "5"
    assert item.decision is not None and item.decision.kind == "patched"
    # the images still show 12.1.6.1000, inside the affected range: the patch is not confirmed
    assert item.state == "overdue" and "images still report" in item.why


def test_an_impossible_date_is_refused(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="2025-02-29"):
        record_decision(engine, "ICSMA-21-187-01", machine(engine, "VUE-01").id, "mitigated",
                        {"what": "x", "until": "2025-02-29"}, "me")
    with pytest.raises(ConfigError, match="is not a date"):
        import_csv(engine, f"id,support_end\n{machine(engine, 'VUE-01').id},2025-13-45\n"
                   .encode(), "reg.csv")
