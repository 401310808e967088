"""The tables read well on an 80-column terminal (issue #10 §7): on real data (the fleet and
the 138 CISA advisories, the demo's tampered archive, a gateway whose PACS is down), no line is
longer than 80 and no identifier, status, date or word is cut across lines; --wide shows more
columns, JSON everything."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pacsguard.cli.main import app
from pacsguard.demo.scenario import run_demo
from tests.fleet import CSAF, OPTIMA_CT, build_fleet, write_images
from tests.gateway.helpers import gateway_config, storescu
from tests.peers import free_port


def run(*args: str | Path, columns: int = 80) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


def assert_fits(output: str, width: int = 80) -> None:
    long = [line for line in output.splitlines() if len(line) > width]
    assert not long, long


def assert_whole(output: str, *values: object) -> None:
    """Every word of every value appears whole, on one line, in the output: no cell was cut
    inside a word (words over 30 characters, such as long paths, may fold)."""
    for v in values:
        for word in str(v).split():
            if len(word) <= 30:
                assert word in output, (word, v)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet recorded, the CISA advisories imported, one decision taken."""
    root = tmp_path_factory.mktemp("site")
    home = root / "home"
    assert run("init", "--data-dir", home).exit_code == 0
    assert run("record", "--data-dir", home, build_fleet(root / "fleet")).exit_code in (0, 1)
    assert run("alerts", "import", "--data-dir", home, CSAF).exit_code == 0
    vue = next(m for m in json_rows(home, "inventory", "list") if m["serial_number"] == "VUE-01")
    r = run("alerts", "decide", "ICSMA-21-187-01", str(vue["id"]), "mitigated", "--what",
            "own VLAN, no internet access", "--until", "2027-01-31", "--by", "PACS manager",
            "--data-dir", home)
    assert r.exit_code == 0, r.output
    return home


def json_rows(home: Path, *args: str) -> list[dict[str, object]]:
    r = run(*args, "--format", "json", "--data-dir", home, columns=1000)
    assert r.exit_code == 0, r.output
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_alerts_match_at_80_columns_keeps_ids_statuses_and_machines_whole(site: Path) -> None:
    r = run("alerts", "match", "--data-dir", site)
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout)
    found = [m for m in json_rows(site, "alerts", "match") if m["status"] != "not matched"]
    assert len(found) >= 5
    for m in found:
        assert_whole(r.stdout, m["tracking_id"], m["machine"], m["cvss"])
        cves = m["cves"]
        assert isinstance(cves, list)
        if cves:
            assert_whole(r.stdout, cves[0])
        # the status, the advisory and the score start the row's first line together
        assert any(line.startswith(str(m["status"])) and str(m["tracking_id"]) in line
                   for line in r.stdout.splitlines()), m
    assert "needs review" in r.stdout


def test_alerts_match_wide_adds_why_and_json_has_everything(site: Path) -> None:
    r = run("alerts", "match", "--wide", "--data-dir", site, columns=10000)  # no wrapping
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stdout.split())
    for m in json_rows(site, "alerts", "match"):
        if m["status"] == "not matched":  # listed per machine in JSON only, counted in tables
            continue
        reasons = m["reasons"]
        assert isinstance(reasons, list) and reasons
        assert " ".join(str(reasons[0]).split()) in flat
        assert "; ".join(str(c) for c in m["cves"]) in flat  # type: ignore[attr-defined]


def test_inventory_list_at_80_columns(site: Path) -> None:
    r = run("inventory", "list", "--data-dir", site)
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout)
    for m in json_rows(site, "inventory", "list"):
        assert_whole(r.stdout, m["id"], m["label"], str(m["last_seen"])[:10], m["image_count"],
                     *m["modalities"])  # type: ignore[misc]


def test_patch_status_at_80_columns(site: Path) -> None:
    r = run("patch", "status", "--today", "2026-12-01", "--data-dir", site)
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout)
    rows = json_rows(site, "patch", "status", "--today", "2026-12-01")
    for s in rows:
        assert_whole(r.stdout, s["machine_id"], s["machine"], s["risk_score"], s["risk"])
    wide = run("patch", "status", "--today", "2026-12-01", "--wide", "--data-dir", site,
               columns=400)
    assert "reasoning" in wide.stdout and "fixes named" in wide.stdout


def test_alerts_list_review_and_decisions_at_80_columns(site: Path) -> None:
    for args in (["alerts", "list"], ["alerts", "review", "--dry-run"],
                 ["alerts", "decisions"]):
        r = run(*args, "--data-dir", site)
        assert r.exit_code == 0, r.output
        assert_fits(r.stdout)
    listed = run("alerts", "list", "--data-dir", site).stdout
    for a in json_rows(site, "alerts", "list")[:20]:
        assert_whole(listed, a["tracking_id"], str(a["published"])[:10], a["title"])
    decisions = run("alerts", "decisions", "--data-dir", site).stdout
    assert_whole(decisions, "ICSMA-21-187-01", "own VLAN, no internet access", "2027-01-31")


def test_verify_findings_at_80_columns(tmp_path: Path) -> None:
    ws, archive, attacks = run_demo(tmp_path / "demo", lambda _: None)
    r = run("verify", "--data-dir", ws.data_dir, archive)
    assert r.exit_code == 1
    assert_fits(r.stdout)
    for a in attacks:
        rel = str(Path(a.path).relative_to(archive))
        assert rel in r.stdout or len(rel) > 30, rel
        assert_whole(r.stdout, a.expected.value)
    lines = r.stdout.splitlines()
    assert any(line.startswith("missing ") and "recorded (leaf" in line for line in lines)
    wide = run("verify", "--data-dir", ws.data_dir, "--wide", archive, columns=400)
    assert "SOP Instance UID" in wide.stdout


def test_gateway_status_at_80_columns_when_the_pacs_is_down(tmp_path: Path) -> None:
    port, down = free_port(), free_port()
    cfg = gateway_config(tmp_path, port, tail=(
        f'\n[[destination]]\nname = "main-pacs-archive"\nae_title = "ORTHANC"\n'
        f'host = "127.0.0.1"\nport = {down}\nallow_plain_tcp = true\n'
        "backoff_min_seconds = 0.2\nbackoff_max_seconds = 1\ntimeout_seconds = 5\n"))
    assert run("init", "--data-dir", tmp_path / "home").exit_code == 0
    write_images(tmp_path / "images", OPTIMA_CT, 3)
    with (tmp_path / "gateway.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pacsguard.cli.main", "gateway", "run",
                                 "--config", str(cfg)], stdout=log, stderr=log,
                                cwd=tmp_path, env={k: v for k, v in os.environ.items()
                                                   if not k.startswith("PACSGUARD_")})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        assert storescu(port, tmp_path / "images").returncode == 0
        deadline = time.monotonic() + 60
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            r = run("gateway", "status", "--config", cfg, "--format", "json", columns=1000)
            status = json.loads(r.stdout.splitlines()[0])
            if int(str(status["failures"])) > 0:
                break
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert status["last_error"], status
    r = run("gateway", "status", "--config", cfg)
    assert r.exit_code == 0, r.output
    assert_fits(r.stdout)
    assert_whole(r.stdout, "main-pacs-archive", status["depth"], status["failures"],
                 status["last_error"])
    assert any(line.startswith("main-pacs-archive: last error at")
               for line in r.stdout.splitlines())

