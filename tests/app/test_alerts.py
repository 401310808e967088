"""The advisory use cases (pacsguard.app.alerts), called as a web page or a scheduler would
call them: plain arguments in, frozen results out, nothing printed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pacsguard.advisories.decisions import DecisionKind
from pacsguard.advisories.match import NOT_MATCHED, MatchStatus
from pacsguard.advisories.review import ChangeKind
from pacsguard.advisories.store import Imported, ImportResult
from pacsguard.app import alerts, inventory
from pacsguard.errors import AdvisoryError, ConfigError, LedgerError
from pacsguard.inventory.passive import SyncReport
from pacsguard.workspace import Workspace
from tests.app.helpers import copy_of, recorded_site
from tests.fleet import CSAF
from tests.peers import free_port


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return recorded_site(tmp_path_factory.mktemp("app-alerts"))


@pytest.fixture
def ws(site: Path, tmp_path: Path) -> Workspace:
    return copy_of(site, tmp_path)


def _vue(ws: Workspace, serial: str = "VUE-01") -> int:
    return next(m.id for m in inventory.list_machines(ws).machines
                if m.serial_number == serial)


def test_each_import_result_is_heard_as_it_comes_even_when_a_later_feed_fails(
        ws: Workspace) -> None:
    heard: list[ImportResult] = []
    feed = f"https://127.0.0.1:{free_port()}/.well-known/csaf/provider-metadata.json"
    with pytest.raises(AdvisoryError, match="cannot fetch"):
        alerts.import_advisories(ws, [CSAF / "icsma-24-023-01.json"], [feed],
                                 on_result=heard.append)
    assert [r.outcome for r in heard] == [Imported.UNCHANGED]


def test_an_import_counts_each_outcome(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(
        "- id: NHS-1\n  title: t\n  vendor: Philips\n  products: [Vue PACS]\n"
        "  affected_versions: '<12.2'\n  severity: high\n")
    (tmp_path / "bad.yaml").write_text("- id: NHS-2\n")
    summary = alerts.import_advisories(ws, [CSAF / "icsma-24-023-01.json", tmp_path])
    assert (summary.new, summary.unchanged, summary.rejected) == (1, 1, 1)
    assert summary.total == 3 and not summary.from_feeds


@pytest.mark.parametrize(("paths", "message"), [
    ([], "give advisory files or folders"),
    ([Path("/nonexistent/advisories")], "/nonexistent/advisories does not exist"),
])
def test_an_import_with_nothing_to_read_is_refused_before_the_ledger_is_opened(
        tmp_path: Path, paths: list[Path], message: str) -> None:
    # no data directory at all: the refusal comes first
    with pytest.raises(ConfigError, match=message):
        alerts.import_advisories(Workspace(tmp_path / "nowhere"), paths)


def test_match_gives_the_statuses_asked_for_and_counts_them(ws: Workspace) -> None:
    heard: list[SyncReport] = []
    every = alerts.match(ws, on_sync=heard.append)
    assert heard and heard[0].new_machines > 0
    assert [s for s, _ in every.counts] == [*(s.value for s in MatchStatus), NOT_MATCHED]
    assert dict(every.counts)["affected"] == sum(
        m.status is MatchStatus.AFFECTED for m in every.matches) > 0
    assert dict(every.counts)[NOT_MATCHED] == len(every.considered) > 0
    assert sum(n.machines for n in every.not_matched) == len(every.considered)
    only = alerts.match(ws, ["needs review"])
    assert only.considered == () and only.not_matched == ()
    assert {m.status for m in only.matches} == {MatchStatus.NEEDS_REVIEW}
    assert only.counts == (("needs review", len(only.matches)),)


def test_match_refuses_an_unknown_status_before_it_syncs(ws: Workspace) -> None:
    heard: list[SyncReport] = []
    with pytest.raises(ConfigError, match="--status 'maybe': use one of affected, fixed"):
        alerts.match(ws, ["maybe"], on_sync=heard.append)
    assert heard == []


def test_a_review_marks_what_it_showed_and_then_shows_nothing_new(ws: Workspace) -> None:
    first = alerts.review(ws, "A. Manager")
    assert first.marked and first.last_review == ""
    assert first.changes and {c.kind for c in first.changes} == {ChangeKind.NEW}
    dry = alerts.review(ws, "", mark=False)
    assert dry.changes == () and "by A. Manager" in dry.last_review and not dry.marked


def test_a_decision_is_appended_to_a_trail_whose_chain_holds(ws: Workspace) -> None:
    vue = _vue(ws)
    d = alerts.decide(ws, "ICSMA-21-187-01", vue, "mitigated",
                      {"what": "own VLAN", "until": "2099-01-01"}, "PACS manager")
    assert d.kind is DecisionKind.MITIGATED and d.summary().startswith("mitigated (own VLAN)")
    with pytest.raises(ConfigError, match="needs --date, --version"):
        alerts.decide(ws, "ICSMA-21-187-01", vue, "patched", {}, "x")
    trail = alerts.decisions(ws)
    assert trail.decisions == (d,) and trail.problems == () and trail.head == d.chain


def test_a_trail_edited_behind_the_tools_back_says_where_it_breaks(ws: Workspace) -> None:
    vue = _vue(ws)
    for why in ("first", "second"):
        alerts.decide(ws, "ICSMA-21-187-01", vue, "not_applicable", {"why": why}, "X")
    db = sqlite3.connect(ws.data_dir / "ledger.sqlite")
    db.execute("UPDATE decisions SET decided_by = 'Someone else' WHERE id = 1")
    db.commit()
    db.close()
    trail = alerts.decisions(ws)
    assert len(trail.decisions) == 2
    assert trail.problems == ("decision 1 (ICSMA-21-187-01, machine "
                              f"{vue}) does not chain from the one before it: the trail was "
                              "edited, or a row removed or reordered",)


def test_the_advisories_are_listed_by_current_revision(ws: Workspace) -> None:
    listed = alerts.list_advisories(ws)
    assert len(listed) == 138 and isinstance(listed, tuple)
    assert len({a.tracking_id for a in listed}) == 138


def test_a_product_status_this_version_does_not_know_still_reads_and_needs_review(
        ws: Workspace) -> None:
    """A database shared with a newer pacsguard may hold a status this one does not know
    (CSAF 2.1 adds some): matching reads it and says it needs review, never fails."""
    vue = _vue(ws)
    db = sqlite3.connect(ws.data_dir / "ledger.sqlite")
    db.execute("UPDATE advisory_products SET status = 'future_status' WHERE advisory_id IN "
               "(SELECT id FROM advisories WHERE tracking_id = 'ICSMA-21-187-01')")
    db.commit()
    db.close()
    [vue_result] = [m for m in alerts.match(ws).matches
                    if m.tracking_id == "ICSMA-21-187-01" and m.machine_id == vue]
    assert vue_result.status is MatchStatus.NEEDS_REVIEW
    assert any("(advisory status future_status)" in r for r in vue_result.reasons)


def test_a_decision_of_a_kind_this_version_does_not_know_is_a_clear_error(
        ws: Workspace) -> None:
    """A kind edited by hand (or written by a newer pacsguard) was a traceback (KeyError, then
    ValueError); it is an error naming the decision, the kind and what to do."""
    alerts.decide(ws, "ICSMA-21-187-01", _vue(ws), "not_applicable", {"why": "x"}, "X")
    db = sqlite3.connect(ws.data_dir / "ledger.sqlite")
    db.execute("UPDATE decisions SET kind = 'waived' WHERE id = 1")
    db.commit()
    db.close()
    with pytest.raises(LedgerError, match=r"decision 1 \(ICSMA-21-187-01, machine \d+\) is of "
                       r"a kind this version of pacsguard does not know \('waived'; it knows "
                       r"patched, .*restore the database from a backup"):
        alerts.decisions(ws)
