"""``pacsguard scan``: output formats, exit status, errors and --disarm, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner, Result

from pacsguard.cli.scan import register
from tests.scan.polyglots import (
    ELF,
    archive,
    base_dataset,
    clean_file,
    pe_preamble,
    to_bytes,
    with_private,
)

app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
register(app)


@app.callback()
def _root() -> None:  # a group, as in pacsguard.cli.main, so the command is named 'scan'
    pass


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["scan", *map(str, args)], env={"COLUMNS": "1000"})


def test_scan_exits_0_on_clean_files_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "IM1.dcm").write_bytes(clean_file())
    r = run(tmp_path)
    assert r.exit_code == 0, r.output
    assert "1 files scanned: 1 clean" in r.output


def test_scan_table_lists_findings_worst_first_and_exit_status_follows_worst(
        tmp_path: Path) -> None:
    r = run(archive(tmp_path))
    assert r.exit_code == 6, r.output  # critical: the PE preamble
    lines = r.output.splitlines()
    first = next(i for i, line in enumerate(lines) if "PREAMBLE-PE" in line)
    assert first < next(i for i, line in enumerate(lines) if "CONTENT-PDF-JAVASCRIPT" in line)
    assert "NOT-DICOM" in r.output and "What to do:" in r.output
    assert "4 files scanned: 2 clean, 2 with findings" in r.output
    assert "TEST^POLYGLOT" not in r.output and "PG-0001" not in r.output


def test_scan_json_gives_one_finding_per_line_and_a_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["scan", str(archive(tmp_path)), "--format", "json"],
                                env={"COLUMNS": "1000"})
    assert result.exit_code == 6
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["id"] for r in rows} >= {"PREAMBLE-PE", "CONTENT-PDF-JAVASCRIPT",
                                       "CONTENT-PDF-AUTO-ACTION", "NOT-DICOM"}
    assert all(set(r) == {"id", "severity", "title", "evidence", "remediation", "subject"}
               for r in rows)
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    assert summary["files"] == 4 and summary["worst"] == "critical"
    assert summary["findings"]["critical"] == 1


def test_scan_csv_has_a_header_and_one_row_per_finding(tmp_path: Path) -> None:
    (tmp_path / "x.dcm").write_bytes(with_private(ELF))
    r = run(tmp_path, "--format", "csv")
    assert r.exit_code == 5
    lines = r.stdout.splitlines()
    assert lines[0] == "severity,id,file,evidence,title,remediation"
    assert lines[1].startswith("high,HIDDEN-EXECUTABLE,")


def test_scan_errors_name_the_input_and_exit_2(tmp_path: Path) -> None:
    r = run(tmp_path / "nowhere")
    assert r.exit_code == 2 and "nowhere: no such file or folder" in r.output
    (tmp_path / "empty").mkdir()
    r = run(tmp_path / "empty")
    assert r.exit_code == 2 and "a folder with no files" in r.output
    r = run(tmp_path / "empty", "--format", "xml")
    assert r.exit_code == 2 and "--format 'xml'" in r.output
    assert "Traceback" not in r.output


def test_scan_disarm_writes_copies_and_manifest_and_leaves_originals(tmp_path: Path) -> None:
    root = archive(tmp_path / "archive")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    out = tmp_path / "archive" / "disarmed"  # inside the scanned tree: skipped by the scan
    r = run(root, "--disarm", out)
    assert r.exit_code == 6, r.output  # the verdict is on the originals
    assert {p: p.read_bytes() for p in before} == before
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(Path(e["original_path"]).name for e in entries) == ["IM2.dcm", "report.dcm"]
    assert all(e["remaining"] == [] for e in entries)
    assert "2 disarmed" in r.output
    again = run(out)
    assert again.exit_code == 0, again.output  # the copies are clean
    # the manifest is skipped, and said to be, not reported as a file that is not DICOM
    assert "NOT-DICOM" not in again.output and "manifest.jsonl" in again.output
    said = " ".join(again.output.split())
    assert "2 files scanned: 2 clean, 0 with findings (none), 1 skipped (disarm manifest)" in said
    as_json = run(out, "--format", "json")
    assert as_json.stdout == ""  # no finding at all
    assert json.loads(as_json.stderr.splitlines()[-1])["summary"]["skipped"] == 1


def test_a_file_named_like_the_manifest_that_is_not_one_is_scanned(tmp_path: Path) -> None:
    root = tmp_path / "incoming"
    root.mkdir()
    (root / "manifest.jsonl").write_bytes(to_bytes(base_dataset(), pe_preamble()))
    r = run(root, "--format", "json")
    assert r.exit_code == 6 and "PREAMBLE-PE" in r.stdout
    (root / "manifest.jsonl").write_text('{"original_path": "x"}\n')  # JSON, not ours
    r = run(root, "--format", "json")
    assert r.exit_code == 0 and "NOT-DICOM" in r.stdout
