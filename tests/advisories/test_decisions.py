"""Decisions (append-only, hash-chained), reviews, the asset register, patch status, risk and
the HTML report: what a PACS manager sees, on both backends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from pacsguard.advisories.decisions import all_decisions, check_chain, record_decision
from pacsguard.advisories.match import MatchStatus, match
from pacsguard.advisories.review import review
from pacsguard.advisories.store import current_products, import_paths
from pacsguard.errors import ConfigError
from pacsguard.integrity.record import record
from pacsguard.inventory.machines import Machine, list_machines
from pacsguard.inventory.passive import sync
from pacsguard.inventory.register import export_csv, import_csv, register_entries
from pacsguard.render.html import governance_page
from pacsguard.reports.governance import governance_report
from pacsguard.reports.status import patch_status
from pacsguard.store.schema import decisions
from pacsguard.workspace import Workspace
from tests.fleet import CSAF, ISCV, SPECT_XP, VUE_PACS_NEW, VUE_PACS_OLD, write_images

ADVISORIES = ["icsma-21-187-01.json", "icsma-17-215-01.json", "icsma-18-025-01.json",
              "icsma-17-318-01.json", "icsma-18-226-01.json"]
TODAY = dt.date(2026, 11, 27)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, data_dir: Path, tmp_path: Path) -> Iterator[Engine]:
    ws = Workspace(data_dir)
    if request.param == "postgresql":
        ws.init(database_url=request.getfixturevalue("postgres_url"), origin="t.local/ledger")
    else:
        ws.init(origin="t.local/ledger")
    for name, eq in [("vo", VUE_PACS_OLD), ("vn", VUE_PACS_NEW), ("sp", SPECT_XP),
                     ("cv", ISCV)]:
        write_images(tmp_path / "fleet" / name, eq, 2)
    ledger, profile, key = ws.open_ledger()
    list(record(ledger, profile, key, [tmp_path / "fleet"], workers=1))
    list(import_paths(ledger.engine, [CSAF / a for a in ADVISORIES]))
    sync(ledger.engine)
    yield ledger.engine
    ledger.engine.dispose()


def _machine(engine: Engine, serial_or_station: str) -> Machine:
    return next(m for m in list_machines(engine)
                if serial_or_station in (m.serial_number, m.station_name))


def _matches(engine: Engine) -> list:  # type: ignore[type-arg]
    return match(current_products(engine), list_machines(engine))


def test_decisions_are_appended_never_overwritten_and_the_newest_is_in_force(
        engine: Engine) -> None:
    vue = _machine(engine, "VUE-01")
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
        record_decision(engine, "ICSMA-21-187-01", _machine(engine, "VUE-01").id, kind, details,
                        "me")
    assert all_decisions(engine) == []


def test_an_edited_decision_breaks_the_chain(engine: Engine) -> None:
    vue = _machine(engine, "VUE-01")
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

    vue = _machine(engine, "VUE-01")
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


def test_overdue_rules(engine: Engine) -> None:
    cv = _machine(engine, "ISCV-1")
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
    vue = by_id[_machine(engine, "VUE-01").id]
    assert (vue.risk.likelihood, vue.risk.consequence) == (5, 5)  # CVSS 9.8 on a PACS
    assert vue.risk.score == 25 and vue.risk.rating == "extreme"
    assert any("CVSS 9.8" in r for r in vue.risk.reasoning)
    new = by_id[_machine(engine, "VUE-02").id]
    assert new.risk.likelihood == 1 and new.risk.rating in ("low", "moderate")


def test_review_lists_new_then_nothing_then_changes(engine: Engine, tmp_path: Path) -> None:
    """New results, then nothing new; a status change (a new revision that drops the Vue PACS
    product) shows as gone."""
    first = review(engine, _matches(engine), "A. Manager")
    assert first.last_review == ""
    assert {c.kind for c in first.changes} == {"new"}
    assert any(c.tracking_id == "ICSMA-21-187-01" and c.status == "affected"
               for c in first.changes)
    second = review(engine, _matches(engine), "A. Manager")
    assert second.changes == [] and "by A. Manager" in second.last_review
    with pytest.raises(ConfigError, match="--by is required"):
        review(engine, _matches(engine), "")
    assert review(engine, _matches(engine), "", mark=False).changes == []
    import json

    doc = json.loads((CSAF / "icsma-21-187-01.json").read_bytes())
    doc["document"]["tracking"]["version"] = "7"
    doc["document"]["tracking"]["current_release_date"] = "2026-11-25T00:00:00Z"
    doc["document"]["tracking"]["revision_history"].append(
        {"date": "2026-11-25T00:00:00Z", "number": "7", "summary": "Vue PACS fixed range"})
    for b in doc["product_tree"]["branches"][0]["branches"]:
        if b["name"] == "Vue PACS":
            b["branches"][0]["name"] = "<= 12.0"
    (tmp_path / "rev7.json").write_text(json.dumps(doc))
    list(import_paths(engine, [tmp_path / "rev7.json"]))
    third = review(engine, _matches(engine), "A. Manager", mark=False)
    vue = [c for c in third.changes if c.machine == "Philips Vue PACS (SN VUE-01)"]
    assert [(c.kind, c.before, c.status) for c in vue] == [
        ("changed", "affected", "not affected")]


def test_the_register_merges_manual_facts_without_losing_edits(engine: Engine) -> None:
    vue = _machine(engine, "VUE-01")
    csv1 = ("id,location,owner,support_end,operating_system,os_end_of_life\n"
            f"{vue.id},Radiology server room 2,PACS team,2025-06-30,Windows Server 2012 R2,"
            "2023-10-10\n").encode()
    r = import_csv(engine, csv1, "reg.csv")
    assert (r.updated, r.created) == (1, 0)
    # an older export with empty cells does not blank the edit; '-' clears
    csv2 = f"id,location,owner,notes\n{vue.id},,-,spare parts from supplier\n".encode()
    import_csv(engine, csv2, "reg2.csv")
    e = register_entries(engine)[vue.id]
    assert e.location == "Radiology server room 2" and e.owner == ""
    assert e.notes == "spare parts from supplier" and e.support_end == "2025-06-30"
    # discovery never touches it
    sync(engine)
    assert register_entries(engine)[vue.id] == e
    # end of support shows in patch status and raises likelihood (already 5: stays 5)
    [s] = [s for s in patch_status(engine, TODAY) if s.machine.id == vue.id]
    assert "support contract ended 2025-06-30" in s.ended
    assert any("Windows Server 2012 R2 out of support" in x for x in s.ended)
    # export and re-import round-trips
    out = export_csv(engine)
    assert "Radiology server room 2" in out
    assert import_csv(engine, out.encode(), "roundtrip.csv").updated == 0


def test_a_register_row_for_unseen_equipment_creates_a_manual_machine(engine: Engine) -> None:
    csv = (b"manufacturer,model,serial_number,location,supplier\n"
           b"Philips,IntelliSpace Portal,ISP-9,Cardiology,Philips UK\n")
    assert import_csv(engine, csv, "new.csv").created == 1
    isp = _machine(engine, "ISP-9")
    assert isp.source == "manual" and isp.image_count == 0
    assert register_entries(engine)[isp.id].supplier == "Philips UK"


@pytest.mark.parametrize(("csv", "reason"), [
    (b"id,colour\n1,red\n", "unknown column.s. colour"),
    (b"id,support_end\n1,soon\n", "row 2: support_end 'soon' is not a date"),
    (b"id,location\n99999,x\n", "row 2: no machine with id 99999"),
    (b"location\nsomewhere\n", "row 2: no id and no manufacturer"),
    (b"id,location\n1,a,b\n", "row 2 has more cells"),
])
def test_a_bad_register_file_is_rejected_whole(engine: Engine, csv: bytes, reason: str) -> None:
    before = register_entries(engine)
    with pytest.raises(ConfigError, match=reason):
        import_csv(engine, b"id,location\n1,first row is fine\n" + csv.split(b"\n", 1)[1]
                   if csv.startswith(b"id,location\n") and b"99999" not in csv
                   and b"a,b" not in csv else csv, "bad.csv")
    assert register_entries(engine) == before


def test_the_html_report_is_one_escaped_self_contained_page(engine: Engine) -> None:
    vue = _machine(engine, "VUE-01")
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


def test_an_impossible_date_is_refused(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="2025-02-29"):
        record_decision(engine, "ICSMA-21-187-01", _machine(engine, "VUE-01").id, "mitigated",
                        {"what": "x", "until": "2025-02-29"}, "me")
    with pytest.raises(ConfigError, match="is not a date"):
        import_csv(engine, f"id,support_end\n{_machine(engine, 'VUE-01').id},2025-13-45\n"
                   .encode(), "reg.csv")


def test_the_register_export_cannot_run_as_a_spreadsheet_formula(engine: Engine) -> None:
    vue = _machine(engine, "VUE-01")
    import_csv(engine, f"id,notes\n{vue.id},=1+2\n".encode(), "r.csv")
    out = export_csv(engine)
    assert "'=1+2" in out and ",=1+2" not in out
    assert import_csv(engine, out.encode(), "again.csv").updated == 0  # round-trips


def test_match_results_do_not_depend_on_product_order() -> None:
    from pacsguard.advisories.match import match as run_match
    from pacsguard.advisories.model import Remediation
    from pacsguard.advisories.store import StoredProduct
    from pacsguard.inventory.machines import Machine

    m = Machine(1, "Philips", "Philips", "Vue PACS", "S1", "", "", ("OT",), ("12.1",), "", "",
                1, "passive")

    def product(pid: str, vers: str, cve: str, score: float) -> StoredProduct:
        return StoredProduct(1, "ADV-1", "1", "t", "2024-01-01", pid, "known_affected",
                             "Philips", "Philips", "Vue PACS", vers, "range", f"vers:maven/{vers}",
                             "", (cve,), score, (Remediation("vendor_fix", cve),))

    low = product("P1", "<1.0", "CVE-2024-0001", 5.0)  # machine outside: not affected
    high = product("P2", "<13.0", "CVE-2024-0002", 9.8)  # machine inside: affected
    a = run_match([low, high], [m])[0]
    b = run_match([high, low], [m])[0]
    assert a.status is b.status is MatchStatus.AFFECTED
    assert a.cvss == b.cvss == 9.8 and a.cves == b.cves == ("CVE-2024-0002",)
