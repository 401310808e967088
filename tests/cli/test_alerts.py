"""``pacsguard inventory`` and ``pacsguard alerts`` end to end, as a PACS manager runs them."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pacsguard.cli.main import app
from tests.fleet import CSAF, build_fleet


def run(home: Path, *args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args] + ["--data-dir", str(home)],
                              env={"COLUMNS": "1000"})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the fleet recorded and the 138 CISA advisories imported."""
    root = tmp_path_factory.mktemp("site")
    home = root / "home"
    assert run(home, "init").exit_code == 0
    r = run(home, "record", build_fleet(root / "fleet"))
    assert r.exit_code in (0, 1), r.output
    r = run(home, "alerts", "import", CSAF)
    assert r.exit_code == 0, r.output
    assert "138 advisories read: 138 new" in r.output
    return home


def test_inventory_list_shows_every_machine_in_each_format(site: Path) -> None:
    table = run(site, "inventory", "list")
    assert table.exit_code == 0, table.output
    assert "Vue PACS" in table.output and "SOMATOM Definition AS+" in table.output
    lines = run(site, "inventory", "list", "--format", "json").stdout.splitlines()
    rows = [json.loads(x) for x in lines]
    assert {"vendor", "model", "software_versions", "first_seen", "image_count"} <= set(rows[0])
    assert any(r["model"] == "Symbia.net" and r["vendor"] == "Siemens Healthineers"
               for r in rows)
    out = run(site, "inventory", "list", "--format", "csv").stdout
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert len(parsed) == len(rows) and "software versions" in parsed[0]
    mid = next(r["id"] for r in rows if r["model"] == "Vue PACS")
    shown = run(site, "inventory", "show", str(mid))
    assert shown.exit_code == 0 and "12." in shown.output


def test_alerts_match_says_what_hits_which_machine_and_why(site: Path) -> None:
    r = run(site, "alerts", "match", "--format", "json")
    assert r.exit_code == 0, r.output
    found = [json.loads(x) for x in r.stdout.splitlines()]
    vue = [m for m in found if m["tracking_id"] == "ICSMA-21-187-01"
           and "VUE-01" in m["machine"]]
    assert vue and vue[0]["status"] == "affected" and vue[0]["cvss"] == 9.8
    assert vue[0]["reasons"] and vue[0]["remediations"] and vue[0]["cves"]
    only = run(site, "alerts", "match", "--status", "needs review", "--format", "json")
    statuses = {json.loads(x)["status"] for x in only.stdout.splitlines()}
    assert statuses == {"needs review"}
    table = run(site, "alerts", "match")
    assert "ICSMA-21-187-01" in table.output and "affected" in table.output


def test_alerts_match_lists_the_machines_it_considered_and_did_not_match_with_why(
        site: Path) -> None:
    """Issue #10 item 5: the vendor's other machines are listed per advisory with the
    reason, so "not relevant" never looks like "could not decide" or like silence."""
    r = run(site, "alerts", "match", "--format", "json")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    iscv = [m for m in rows if m["tracking_id"] == "ICSMA-21-187-01"
            and "ISCV-1" in m["machine"]]
    assert [m["status"] for m in iscv] == ["not matched"]
    assert iscv[0]["misses"] == ["different product line"]
    assert iscv[0]["reasons"] == ["different product line: Philips 'Vue PACS', 'Vue Motion', "
                                  "'Vue MyVue' and 1 more do not name model "
                                  "'IntelliSpace Cardiovascular'"]
    seen: dict[tuple[str, int], str] = {}
    for m in rows:  # one row per advisory and machine: a verdict or "not matched", never both
        assert seen.setdefault((m["tracking_id"], m["machine_id"]), m["status"]) == m["status"]
    only = run(site, "alerts", "match", "--status", "not matched", "--format", "json")
    assert {json.loads(x)["status"] for x in only.stdout.splitlines()} == {"not matched"}

    table = CliRunner().invoke(app, ["alerts", "match", "--data-dir", str(site)],
                               env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    assert "machines of named vendors considered and not matched" in table.output
    line = next(x for x in table.output.splitlines() if "ICSMA-21-187-01" in x
                and "different product line" in x)
    assert line.split()[1:5] == ["7", "7", "different", "product"]
    assert max(len(x) for x in table.output.splitlines()) <= 80
    assert "not matched" in table.output.splitlines()[-1]


def test_alerts_list_shows_the_current_revision_of_each(site: Path) -> None:
    r = run(site, "alerts", "list", "--format", "json")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 138
    assert {"tracking_id", "revision", "published", "title", "products"} <= set(rows[0])


def test_a_bad_advisory_is_rejected_with_its_reason_and_exit_1(site: Path,
                                                               tmp_path: Path) -> None:
    doc = json.loads((CSAF / "icsma-24-023-01.json").read_bytes())
    del doc["document"]["publisher"]
    (tmp_path / "broken.json").write_text(json.dumps(doc))
    shutil.copy(CSAF / "icsma-24-058-01.json", tmp_path / "fine.json")
    r = run(site, "alerts", "import", tmp_path)
    assert r.exit_code == 1
    assert "broken.json: not valid CSAF 2.0, nothing imported: /document: 'publisher' is a " \
        "required property" in r.output
    assert "1 already imported, 1 rejected" in r.output
    assert "Traceback" not in r.output


@pytest.mark.parametrize("args", [
    ("alerts", "match", "--format", "xml"),
    ("alerts", "match", "--status", "maybe"),
    ("inventory", "show", "99999"),
])
def test_bad_options_get_a_clear_error(site: Path, args: tuple[str, ...]) -> None:
    r = run(site, *args)
    assert r.exit_code == 2
    assert "error:" in r.output and "Traceback" not in r.output


def _machine_id(site: Path, serial: str) -> int:
    rows = [json.loads(x) for x in
            run(site, "inventory", "list", "--format", "json").stdout.splitlines()]
    return int(next(r["id"] for r in rows if r["serial_number"] == serial))


def test_a_manager_reviews_decides_and_reports(site: Path, tmp_path: Path) -> None:
    r = run(site, "alerts", "review", "--by", "A. Manager", "--format", "json")
    assert r.exit_code == 0, r.output
    changes = [json.loads(x) for x in r.stdout.splitlines()]
    assert changes and {c["change"] for c in changes} == {"new"}
    again = run(site, "alerts", "review", "--by", "A. Manager", "--format", "json")
    assert again.stdout.strip() == ""

    vue = _machine_id(site, "VUE-01")
    d = run(site, "alerts", "decide", "ICSMA-21-187-01", str(vue), "mitigated", "--what",
            "own VLAN", "--until", "2099-01-01", "--by", "PACS manager")
    assert d.exit_code == 0, d.output
    bad = run(site, "alerts", "decide", "ICSMA-21-187-01", str(vue), "patched", "--by", "x")
    assert bad.exit_code == 2 and "needs --date, --version" in bad.output
    trail = run(site, "alerts", "decisions", "--format", "json")
    assert [json.loads(x)["kind"] for x in trail.stdout.splitlines()] == ["mitigated"]

    status = run(site, "patch", "status", "--format", "json", "--today", "2026-11-27")
    assert status.exit_code == 0, status.output
    rows = {json.loads(x)["machine_id"]: json.loads(x) for x in status.stdout.splitlines()}
    assert rows[vue]["open"] == 1 and rows[vue]["overdue"] == 0
    assert rows[vue]["risk"] in ("high", "extreme") and rows[vue]["risk_reasoning"]
    assert "12.3 or later" in rows[vue]["fixes"]

    out = tmp_path / "governance.html"
    rep = run(site, "report", out, "--today", "2026-11-27")
    assert rep.exit_code == 0, rep.output
    html = out.read_text()
    assert "ICSMA-21-187-01" in html and "own VLAN" in html


def test_the_asset_register_round_trips_through_csv(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "register.csv"
    assert run(site, "inventory", "export", out).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    rows[0]["location"] = "CT suite 1"
    with out.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    r = run(site, "inventory", "import", out)
    assert r.exit_code == 0, r.output
    assert "1 machines updated" in r.output
    again = list(csv.DictReader(io.StringIO(run(site, "inventory", "export", "-").stdout)))
    assert again[0]["location"] == "CT suite 1"
    bad = tmp_path / "bad.csv"
    bad.write_text("id,colour\n1,red\n")
    r = run(site, "inventory", "import", bad)
    assert r.exit_code == 2 and "unknown column(s) colour" in r.output
