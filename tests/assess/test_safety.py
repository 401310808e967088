"""The safety rules: no authorisation, no test; only the named node; a called AE title that
is not one refused before contact; paced; reports that keep no patient data, escape what they
quote, and load nothing from elsewhere; exit statuses, an incomplete run included."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pacsguard.assess.model import (
    AssessError,
    Assessment,
    Authorisation,
    Fact,
    Section,
)
from pacsguard.assess.net import Pacer
from pacsguard.assess.report import to_json
from pacsguard.assess.runner import assess
from pacsguard.cli.assess import register
from pacsguard.findings import Finding, Severity
from pacsguard.render.html import assessment_page
from tests.assess.targets import contacted, listener, options, web_peer
from tests.peers import free_port, storescp


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def main() -> None:  # a group, as in pacsguard's own app
        pass

    return app


@pytest.mark.parametrize("statement", ["", "   ", "Jane Smith", ", CHG-1", "Jane Smith,"])
def test_assess_refuses_to_start_without_a_name_and_a_reference(statement: str) -> None:
    with listener() as (port, s):
        args = ["assess", f"127.0.0.1:{port}"]
        if statement:
            args += ["--authorized-by", statement]
        r = CliRunner().invoke(_app(), args)
        assert r.exit_code == 2
        assert "--authorized-by" in r.output
        assert not contacted(s)


def test_the_authorisation_statement_is_parsed_into_name_and_reference() -> None:
    a = Authorisation.parse("J. Smith (CISO), change CHG-1234, signed 2025-01-02")
    assert a.name == "J. Smith (CISO)"
    assert a.reference == "change CHG-1234, signed 2025-01-02"


@pytest.mark.parametrize("target", ["127.0.0.0/24:104", "127.0.0.*:104", "127.0.0.1",
                                    "127.0.0.1:104,127.0.0.2:104"])
def test_ranges_and_lists_are_refused_before_anything_is_contacted(target: str) -> None:
    r = CliRunner().invoke(_app(), ["assess", target, "--authorized-by", "A, B"])
    assert r.exit_code == 2 and "never scanned" in r.output


def test_a_web_url_on_another_host_is_refused_before_the_node_is_contacted() -> None:
    with listener() as (port, s):
        with pytest.raises(AssessError, match="not the assessed node"):
            assess(options(port, http="http://127.0.0.2:8042/"))
        assert not contacted(s)


def test_an_unreachable_node_is_an_error_not_a_verdict() -> None:
    r = CliRunner().invoke(_app(), ["assess", f"127.0.0.1:{free_port()}", "--authorized-by",
                                    "A, B", "--timeout", "1"])
    assert r.exit_code == 2 and "cannot connect" in r.output


def test_the_pacer_keeps_requests_under_the_rate() -> None:
    pacer = Pacer(20)
    started = time.monotonic()
    for _ in range(11):
        pacer.wait()
    assert time.monotonic() - started >= 0.5 - 0.01
    assert Pacer(1000).interval == pytest.approx(1 / 50)  # --rate is capped


def test_the_html_report_is_self_contained_and_escapes_what_it_quotes() -> None:
    evil = "<script>alert(1)</script>"
    finding = Finding("WEB-NO-AUTH", Severity.HIGH, "title", f"the node said {evil}",
                      "fix it", "127.0.0.1:104")
    a = Assessment("127.0.0.1:104", "127.0.0.1", 104, Authorisation("<b>Eve</b>", "ref"),
                   "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", 1.0, "test",
                   (Fact("rate", "10"),),
                   (Section("web", "Web APIs", (finding,), (Fact("x", evil),)),))
    html = assessment_page(a)
    assert evil not in html and "&lt;script&gt;" in html
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve" in html
    assert "<script" not in html and "src=" not in html and "<link" not in html
    assert json.loads(to_json(a))["findings"][0]["evidence"].endswith(evil)


def test_the_command_writes_json_and_html_and_exits_with_the_highest_severity(
        tmp_path: Path) -> None:
    with storescp(tmp_path) as port:
        r = CliRunner().invoke(_app(), [
            "assess", f"127.0.0.1:{port}", "--authorized-by", "Test Runner, T-42",
            "--json", str(tmp_path / "a.json"), "--html", str(tmp_path / "a.html"),
            "--rate", "20"])
    # storescp exposes no data to query: TLS-ABSENT and ASSOC-ANY-CALLING are medium
    assert r.exit_code == 4, r.output
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["exit_status"] == 4 and doc["worst"] == "medium"
    assert doc["complete"] is True and doc["verdict"] == "acceptable with conditions"
    assert doc["authorized_by"] == {"name": "Test Runner", "reference": "T-42"}
    by_id = {f["id"]: f for f in doc["findings"]}
    assert {"ASSOC-ANY-CALLED", "TLS-ABSENT"} <= set(by_id)
    assert by_id["TLS-ABSENT"]["severity"] == "medium"
    html = (tmp_path / "a.html").read_text()
    assert "Test Runner" in html and "T-42" in html and "TLS-ABSENT" in html
    assert "TLS-ABSENT" in r.output


@pytest.mark.parametrize("called", ["SEVENTEEN-CHARS-X", "BACK\\SLASH", "ÄRZTEHAUS",
                                    "LINE\nFEED", "   "])
def test_a_called_title_that_is_not_an_ae_title_is_refused_before_the_node_is_contacted(
        called: str) -> None:
    with listener() as (port, s):
        r = CliRunner().invoke(_app(), ["assess", f"127.0.0.1:{port}", "--authorized-by",
                                        "A, B", "--called-aet", called])
        assert r.exit_code == 2, r.output
        assert "--called-aet" in r.output and "not a valid AE title" in r.output
        assert r.exception is None or isinstance(r.exception, SystemExit)
        with pytest.raises(AssessError, match="not a valid AE title"):
            assess(options(port, called_aet=called))
        assert not contacted(s)


def test_a_node_that_does_not_answer_as_dicom_gives_no_verdict_and_exit_2(
        tmp_path: Path) -> None:
    """A web server where the DICOM port should be: nothing could be assessed, which must
    not read as a pass. The report is still written, and says so."""
    with web_peer(status=400) as site:
        r = CliRunner().invoke(_app(), [
            "assess", f"127.0.0.1:{site.port}", "--authorized-by", "Test Runner, T-42",
            "--timeout", "1", "--json", str(tmp_path / "a.json"),
            "--html", str(tmp_path / "a.html")])
    assert r.exit_code == 2, r.output
    assert "incomplete" in r.output
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["exit_status"] == 2 and doc["verdict"] == "incomplete"
    assert doc["complete"] is False
    assert "did not answer as DICOM" in doc["incomplete_checks"][0]["why"]
    assert not [f for f in doc["findings"] if f["severity"] != "info"]
    assert "Incomplete assessment, no verdict" in (tmp_path / "a.html").read_text()


def test_checks_made_moot_by_a_node_refusing_the_unknown_caller_are_not_a_gap() -> None:
    skipped = Section("exposure", "Data exposure", skipped="the node refuses associations "
                      "from unknown calling AE titles")
    gap = Section("policy", "Association policy", skipped="the node did not answer as DICOM",
                  incomplete=True)
    base = ("127.0.0.1:104", "127.0.0.1", 104, Authorisation("A", "B"),
            "2025-01-01T00:00:00Z", "2025-01-01T00:00:01Z", 1.0, "test", ())
    assert Assessment(*base, (skipped,)).exit_status == 0
    incomplete = Assessment(*base, (skipped, gap))
    assert incomplete.exit_status == 2 and incomplete.verdict == "incomplete"
