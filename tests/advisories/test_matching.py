"""Advisories x inventory on the real CISA files and a fleet built from real scanner files
plus synthetic machines; both storage backends."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from pacsguard.advisories.match import Match, MatchStatus, match, product_fits
from pacsguard.advisories.store import Imported, current_products, import_paths
from pacsguard.integrity.record import record
from pacsguard.inventory.machines import list_machines
from pacsguard.inventory.passive import sync
from pacsguard.store.schema import advisories, advisory_products
from pacsguard.workspace import Workspace
from tests.fleet import CSAF, build_fleet


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Engine]:
    ws = Workspace(data_dir)
    if request.param == "postgresql":
        ws.init(database_url=request.getfixturevalue("postgres_url"), origin="t.local/ledger")
    else:
        ws.init(origin="t.local/ledger")
    ledger, _, _ = ws.open_ledger()
    yield ledger.engine
    ledger.engine.dispose()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fleet(tmp_path_factory.mktemp("fleet"))


def _record(engine: Engine, data_dir: Path, *roots: Path) -> None:
    ledger, profile, key = Workspace(data_dir).open_ledger()
    try:
        list(record(ledger, profile, key, list(roots), workers=1))
    finally:
        ledger.engine.dispose()


def _results(engine: Engine) -> dict[tuple[str, str], Match]:
    sync(engine)
    return {(m.tracking_id, m.machine): m
            for m in match(current_products(engine), list_machines(engine))}


def test_the_fleet_against_the_138_real_cisa_advisories(engine: Engine, data_dir: Path,
                                                       fleet: Path) -> None:
    _record(engine, data_dir, fleet)
    got = list(import_paths(engine, [CSAF]))
    assert [r.outcome for r in got].count(Imported.NEW) == 138
    res = _results(engine)

    vue_old = res[("ICSMA-21-187-01", "Philips Vue PACS (SN VUE-01)")]
    assert vue_old.status is MatchStatus.AFFECTED
    assert vue_old.cvss == 9.8 and "CVE-2020-1938" in vue_old.cves
    assert any("12.1.6.1000" in r and "Vue PACS" in r for r in vue_old.reasons)
    assert vue_old.remediations
    vue_new = res[("ICSMA-21-187-01", "Philips Vue PACS (SN VUE-02)")]
    assert vue_new.status is MatchStatus.NOT_AFFECTED
    assert any("outside" in r for r in vue_new.reasons)

    # GE: an affected model (all versions), and a model no advisory names
    assert res[("ICSMA-18-037-02", "GE Healthcare Optima 640 (SN OPT640-1)")].status \
        is MatchStatus.AFFECTED
    assert not [k for k in res if "Optima CT660" in k[1]]

    # Windows XP-based Siemens SPECT workstation: a version text no parser can decide
    spect = res[("ICSMA-17-215-01", "Siemens Healthineers Symbia.net (SPECTWS1)")]
    assert spect.status is MatchStatus.NEEDS_REVIEW
    assert any("needs review" in r for r in spect.reasons)

    # "Phillips" (CISA's misspelling) still reaches the Philips machine; "<= 2.3.0" holds 2.3.0
    iscv = "Philips IntelliSpace Cardiovascular (SN ISCV-1)"
    assert res[("ICSMA-18-025-01", iscv)].status is MatchStatus.AFFECTED
    assert res[("ICSMA-17-318-01", iscv)].status is MatchStatus.AFFECTED

    # a real GE scanner file: "MILLENNIUM MG" in the image, "Millenium MG" in the advisory
    real_nm = [m for (t, name), m in res.items() if t == "ICSMA-18-037-02"
               and "MILLENNIUM MG" in name]
    assert [m.status for m in real_nm] == [MatchStatus.NEEDS_REVIEW]


def test_reimport_changes_nothing_and_a_new_revision_adds_its_new_products(
        engine: Engine, data_dir: Path, fleet: Path, tmp_path: Path) -> None:
    _record(engine, data_dir, fleet)
    list(import_paths(engine, [CSAF]))
    before = _results(engine)
    again = list(import_paths(engine, [CSAF]))
    assert {r.outcome for r in again} == {Imported.UNCHANGED}
    assert _results(engine).keys() == before.keys()

    doc: dict[str, Any] = json.loads((CSAF / "icsma-21-187-01.json").read_bytes())
    doc["document"]["tracking"]["version"] = "9"
    doc["document"]["tracking"]["current_release_date"] = "2026-11-01T00:00:00Z"
    doc["document"]["tracking"]["revision_history"].append(
        {"date": "2026-11-01T00:00:00Z", "number": "9", "summary": "Adds IntelliSpace CV"})
    philips = doc["product_tree"]["branches"][0]
    philips["branches"].append({"category": "product_name", "name": "IntelliSpace Cardiovascular",
                                "branches": [{"category": "product_version_range",
                                              "name": "<= 2.3.0", "product": {
                                                  "name": "IntelliSpace Cardiovascular <= 2.3.0",
                                                  "product_id": "CSAFPID-9001"}}]})
    doc["vulnerabilities"][0]["product_status"]["known_affected"].append("CSAFPID-9001")
    (tmp_path / "rev9.json").write_text(json.dumps(doc))
    [r] = list(import_paths(engine, [tmp_path / "rev9.json"]))
    assert (r.outcome, r.revision) == (Imported.REVISION, "9")
    after = _results(engine)
    new = set(after) - set(before)
    assert new == {("ICSMA-21-187-01", "Philips IntelliSpace Cardiovascular (SN ISCV-1)")}
    assert after[next(iter(new))].revision == "9"
    # the older revision is kept, but only the newest is current
    with engine.connect() as conn:
        rows = conn.execute(select(advisories.c.revision, advisories.c.is_current).where(
            advisories.c.tracking_id == "ICSMA-21-187-01")).all()
    assert sorted((r, bool(c)) for r, c in rows) == [("1", False), ("9", True)] or \
        sorted((r, bool(c)) for r, c in rows)[-1] == ("9", True)


def test_an_older_revision_imported_late_does_not_become_current(engine: Engine,
                                                                 tmp_path: Path) -> None:
    doc: dict[str, Any] = json.loads((CSAF / "icsma-21-187-01.json").read_bytes())
    newer = json.loads(json.dumps(doc))
    newer["document"]["tracking"]["version"] = "9"
    newer["document"]["tracking"]["current_release_date"] = "2030-01-01T00:00:00+01:00"
    newer["document"]["tracking"]["revision_history"].append(
        {"date": "2030-01-01T00:00:00+01:00", "number": "9", "summary": "later"})
    (tmp_path / "a-new.json").write_text(json.dumps(newer))
    (tmp_path / "b-old.json").write_text(json.dumps(doc))
    list(import_paths(engine, [tmp_path / "a-new.json"]))
    list(import_paths(engine, [tmp_path / "b-old.json"]))
    with engine.connect() as conn:
        current = conn.execute(select(advisories.c.revision).where(
            advisories.c.is_current.is_(True))).scalars().all()
    assert current == ["9"]


def test_a_rejected_document_leaves_nothing_behind_and_the_rest_import(
        engine: Engine, tmp_path: Path) -> None:
    shutil.copy(CSAF / "icsma-21-187-01.json", tmp_path / "good.json")
    bad: dict[str, Any] = json.loads((CSAF / "icsma-19-164-01.json").read_bytes())
    del bad["vulnerabilities"][0]["product_status"]
    bad["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"] = "high"
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    (tmp_path / "notes.txt").write_text("ignored: not an advisory suffix")
    got = {Path(r.source).name: r for r in import_paths(engine, [tmp_path])}
    assert set(got) == {"bad.json", "good.json"}
    assert got["good.json"].outcome is Imported.NEW
    assert got["bad.json"].outcome is Imported.REJECTED
    assert "bad.json: not valid CSAF 2.0, nothing imported" in got["bad.json"].detail
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(advisories)).scalar() == 1


def test_a_failure_halfway_through_storing_a_document_stores_none_of_it(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from pacsguard.advisories import store

    real = store._product_row
    calls = {"n": 0}

    def failing(aid: int, p: Any) -> dict[str, object]:
        calls["n"] += 1
        if calls["n"] == 3:
            row = real(aid, p)
            row["status"] = None  # NOT NULL: the insert fails after the advisory row is in
            return row
        return real(aid, p)

    monkeypatch.setattr(store, "_product_row", failing)
    from pacsguard.errors import StoreError

    with pytest.raises(StoreError, match="could not import"):
        list(import_paths(engine, [CSAF / "icsma-18-037-02.json"]))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(advisories)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(advisory_products)).scalar() == 0


def test_yaml_alerts_match_like_advisories(engine: Engine, data_dir: Path, fleet: Path,
                                           tmp_path: Path) -> None:
    _record(engine, data_dir, fleet / "vue-old", fleet / "vue-new")
    (tmp_path / "nhs.yaml").write_text(
        "- id: CC-4521\n  title: Vue PACS RCE\n  vendor: Philips\n  products: [Vue PACS]\n"
        "  affected_versions: '<12.2.8.410'\n  fixed_versions: '>=12.2.8.410'\n"
        "  severity: high\n  published: 2024-05-01\n")
    [r] = list(import_paths(engine, [tmp_path / "nhs.yaml"]))
    assert r.outcome is Imported.NEW
    res = _results(engine)
    assert res[("CC-4521", "Philips Vue PACS (SN VUE-01)")].status is MatchStatus.AFFECTED
    assert res[("CC-4521", "Philips Vue PACS (SN VUE-02)")].status is MatchStatus.FIXED


@pytest.mark.parametrize(("product", "vendor", "model", "expected"), [
    ("Vue PACS", "Philips", "Vue PACS", "match"),
    ("Optima 640", "GE Healthcare", "Optima 640", "match"),
    ("Optima 640", "GE Healthcare", "Optima CT660", None),
    ("Optima CT", "GE Healthcare", "Optima CT660", "match"),
    ("Siemens SPECT Workplaces/Symbia.net", "Siemens", "Symbia.net", "match"),
    ("Millenium MG", "GE Healthcare", "MILLENNIUM MG", "review"),
    ("IntelliSpace Portal 8.0.x", "Philips", "IntelliSpace Portal", "review"),
    ("GE Healthcare LOGIQ, not including LOGIQ 100 Pro", "GE Healthcare", "LOGIQ 700", "review"),
    ("Centricity PACS Server", "GE Healthcare", "LOGIQ 700", None),
    ("Paceart Optima", "Medtronic", "Optima 640", None),
])
def test_product_names_are_matched_by_words(product: str, vendor: str, model: str,
                                            expected: str | None) -> None:
    assert product_fits(product, vendor, model) == expected


def test_unreadable_and_oversized_files_are_rejected_with_a_reason(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pacsguard.advisories import store

    monkeypatch.setattr(store, "MAX_FILE_BYTES", 1000)
    shutil.copy(CSAF / "icsma-21-187-01.json", tmp_path / "big.json")
    (tmp_path / "gone.json").symlink_to(tmp_path / "nowhere.json")
    got = {Path(r.source).name: r for r in import_paths(engine, [tmp_path / "big.json",
                                                                 tmp_path / "gone.json"])}
    assert got["big.json"].outcome is Imported.REJECTED
    assert "too large for an advisory" in got["big.json"].detail
    assert got["gone.json"].outcome is Imported.REJECTED
    assert "gone.json: cannot read" in got["gone.json"].detail


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
