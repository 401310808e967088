"""Considered and not matched (issue #10 item 5): every machine of a vendor an advisory
names is either a result or listed with the reason it is not one; "not relevant" never looks
like "could not decide", nor like silence. Real CISA files, the test fleet of real scanner
files plus synthetic machines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pacsguard.advisories.match import MatchReport, Miss, match_report
from pacsguard.advisories.store import Imported, current_products, import_paths
from pacsguard.integrity.record import record
from pacsguard.inventory.machines import Machine, list_machines
from pacsguard.inventory.passive import sync
from pacsguard.products.vendors import vendors_match
from pacsguard.workspace import Workspace
from tests.fleet import CSAF, CSAF_LATER, Equip, build_fleet, write_images

MR_541 = Equip("Philips Medical Systems", "Ingenia", ("5.4.1",), "MR-541", modality="MR")
@pytest.fixture(scope="module")
def fleet_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, list[Machine]]]:
    root = tmp_path_factory.mktemp("considered")
    fleet = build_fleet(root / "fleet")
    write_images(fleet / "mr-541", MR_541, 2)
    ws = Workspace(root / "home")
    ws.init(origin="t.local/ledger")
    ledger, profile, key = ws.open_ledger()
    list(record(ledger, profile, key, [fleet], workers=1))
    sync(ledger.engine)
    list(import_paths(ledger.engine, [CSAF, CSAF_LATER]))
    yield ledger.engine, list_machines(ledger.engine)
    ledger.engine.dispose()


@pytest.fixture(scope="module")
def report(fleet_db: tuple[Engine, list[Machine]]) -> MatchReport:
    engine, machines = fleet_db
    return match_report(current_products(engine), machines)


def _by_serial(machines: list[Machine], serial: str) -> Machine:
    return next(m for m in machines if m.serial_number == serial)


def test_every_machine_of_a_named_vendor_is_a_result_or_considered_exactly_once(
        fleet_db: tuple[Engine, list[Machine]], report: MatchReport) -> None:
    engine, machines = fleet_db
    vendors: dict[str, set[str]] = {}
    for p in current_products(engine):
        vendors.setdefault(p.tracking_id, set()).add(p.vendor_raw or p.vendor)
    results = [(m.tracking_id, m.machine_id) for m in report.matches]
    considered = [(c.tracking_id, c.machine_id) for c in report.considered]
    assert len(set(results)) == len(results) and len(set(considered)) == len(considered)
    assert not set(results) & set(considered)  # "not relevant" is never also a verdict
    expected = {(tid, m.id) for tid, names in vendors.items() for m in machines
                if any(vendors_match(v, m.manufacturer or m.vendor) for v in names)}
    assert set(results) | set(considered) == expected
    assert all(c.misses and len(c.misses) == len(c.reasons) for c in report.considered)


def test_a_philips_ultrasound_is_considered_for_the_mri_families_and_not_matched(
        fleet_db: tuple[Engine, list[Machine]], report: MatchReport) -> None:
    _, machines = fleet_db
    epiq = _by_serial(machines, "392075967")  # a real Philips EPIQ 5G file
    [c] = [c for c in report.considered
           if c.tracking_id == "ICSMA-21-313-01" and c.machine_id == epiq.id]
    assert c.misses == (Miss.MODALITY,)
    assert c.reasons == ("modality differs: 'MRI 1.5T', 'MRI 3T' name a family of MR "
                         "machines, and the images of model 'EPIQ 5G' are US",)


def test_a_philips_mr_is_considered_for_the_vue_pacs_advisory_as_another_product_line(
        fleet_db: tuple[Engine, list[Machine]], report: MatchReport) -> None:
    _, machines = fleet_db
    mr = _by_serial(machines, MR_541.serial)
    [c] = [c for c in report.considered
           if c.tracking_id == "ICSMA-21-187-01" and c.machine_id == mr.id]
    assert c.misses == (Miss.PRODUCT_LINE,)
    assert c.reasons == ("different product line: Philips 'Vue PACS', 'Vue Motion', "
                         "'Vue MyVue' and 1 more do not name model 'Ingenia'",)


def test_a_version_outside_the_only_range_a_product_names_is_considered_with_that_reason(
        data_dir: Path, tmp_path: Path) -> None:
    """ICSMA-21-187-01 rewritten so that Vue PACS is named only as fixed from 12.3 on: a Vue
    PACS at 12.1.6.1000 is neither affected nor fixed by it, and is listed as such."""
    doc: dict[str, Any] = json.loads((CSAF / "icsma-21-187-01.json").read_bytes())
    doc["document"]["tracking"]["id"] = "TEST-FIXED-ONLY-1"
    vue = doc["product_tree"]["branches"][0]["branches"][0]
    assert vue["name"] == "Vue PACS"
    vue["branches"][0]["name"] = ">= 12.3"
    for v in doc["vulnerabilities"]:
        v["product_status"] = {"fixed": ["CSAFPID-0001"],
                               "known_affected": ["CSAFPID-0002", "CSAFPID-0003",
                                                  "CSAFPID-0004"]}
    (tmp_path / "fixed-only.json").write_text(json.dumps(doc))
    ws = Workspace(data_dir)
    ws.init(origin="t.local/ledger")
    ledger, _, _ = ws.open_ledger()
    [imported] = list(import_paths(ledger.engine, [tmp_path / "fixed-only.json"]))
    assert imported.outcome is Imported.NEW, imported.detail
    old, new = (Machine(i, "Philips", "Philips", "Vue PACS", f"VUE-0{i}", "", "", ("OT",),
                        (version,), "", "", 1, "passive")
                for i, version in ((1, "12.1.6.1000"), (2, "12.3.0.2000")))
    report = match_report(current_products(ledger.engine), [old, new])
    ledger.engine.dispose()
    [c] = report.considered
    assert c.machine_id == old.id
    assert c.misses == (Miss.VERSION, Miss.PRODUCT_LINE)
    assert "[CSAFPID-0001 fixed]" in c.reasons[0]
    assert "version 12.1.6.1000 is outside '>= 12.3'" in c.reasons[0]
    assert c.reasons[1] == ("different product line: Philips 'Vue Motion', 'Vue MyVue', "
                            "'Vue Speech' do not name model 'Vue PACS'")
    assert [(m.machine_id, m.status.value) for m in report.matches] == [(new.id, "fixed")]


def test_the_count_per_advisory_says_how_many_machines_and_why(report: MatchReport) -> None:
    rows = {tid: (n, kinds) for tid, n, kinds in report.not_matched_by_advisory()}
    n, kinds = rows["ICSMA-21-313-01"]
    assert n == sum(kinds.values()) == len(
        [c for c in report.considered if c.tracking_id == "ICSMA-21-313-01"])
    assert set(kinds) == {Miss.MODALITY}
