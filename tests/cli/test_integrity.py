"""Specification of ``pacsguard init``, ``record`` and ``verify`` (pacsguard/cli/integrity.py),
end to end.

Most tests drive ``pacsguard.cli.main.app`` in-process with typer's CliRunner (COLUMNS=1000, so
rich does not wrap lines); a few run the installed console script as a real subprocess
(tests/cli/helpers.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydicom import dcmread

from pacsguard.demo.scenario import PATIENTS
from tests.cli.helpers import (
    CONSOLE_SCRIPT,
    ORIGIN,
    assert_one_clean_error_line,
    build,
    change_patient_id,
    flat,
    run,
    script,
)

# ---------------------------------------------------------------------------------------------
# the main job
# ---------------------------------------------------------------------------------------------


def test_init_record_verify_then_tamper_makes_verify_fail(home: Path, archive: Path) -> None:
    r = run("init", "--data-dir", home, "--origin", ORIGIN)
    assert r.exit_code == 0, r.output
    assert "ready" in r.stdout
    r = run("record", "--data-dir", home, "--workers", "1", archive)
    assert r.exit_code == 0, r.output
    assert "5 recorded" in flat(r.output)
    r = run("verify", "--data-dir", home, "--workers", "1", archive)
    assert r.exit_code == 0, r.output
    assert "ALL INTACT" in r.stdout
    assert "ledger trusted" in r.stdout

    victim = archive / "ct" / PATIENTS[0][0] / "slice002.dcm"
    change_patient_id(victim)
    r = run("verify", "--data-dir", home, "--workers", "1", archive)

    assert r.exit_code == 1, r.output
    assert "PROBLEMS FOUND" in r.stdout
    assert "identity_altered" in r.stdout
    assert "ALL INTACT" not in r.stdout


def test_record_twice_reports_everything_unchanged(recorded: Path, archive: Path) -> None:
    r = run("record", "--data-dir", recorded, "--workers", "1", archive)
    assert r.exit_code == 0, r.output
    assert "5 files" in r.output and "5 unchanged" in r.output
    assert "recorded" not in r.output


def test_record_of_a_changed_instance_exits_1_and_accept_changes_needs_a_reason(
    recorded: Path, archive: Path
) -> None:
    victim = archive / "ct" / PATIENTS[0][0] / "slice001.dcm"
    change_patient_id(victim)

    r = run("record", "--data-dir", recorded, "--workers", "1", archive)
    assert r.exit_code == 1
    assert "changed" in r.output and "identity_altered" in r.output
    assert str(victim) in r.output

    r = run("record", "--data-dir", recorded, "--accept-changes", archive)
    assert_one_clean_error_line(r, "--reason")

    r = run("record", "--data-dir", recorded, "--workers", "1", "--accept-changes", "--reason",
            "merged patient records", archive)
    assert r.exit_code == 0, r.output
    assert "superseded" in r.output and "supersedes leaf" in r.output
    r = run("verify", "--data-dir", recorded, "--workers", "1", archive)
    assert r.exit_code == 0, r.output


def test_console_script_runs_init_record_verify_and_fails_after_tampering(
    home: Path, archive: Path
) -> None:
    assert CONSOLE_SCRIPT.exists()
    p = script("init", "--data-dir", home, "--origin", ORIGIN)
    assert p.returncode == 0, p.stderr
    p = script("record", "--data-dir", home, "--workers", "1", archive)
    assert p.returncode == 0, p.stderr
    assert "5 recorded" in p.stdout + p.stderr
    p = script("verify", "--data-dir", home, "--workers", "2", archive)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ALL INTACT" in p.stdout

    (archive / "scanners" / "deid-data" / "ctbrain1.dcm").unlink()
    p = script("verify", "--data-dir", home, "--workers", "2", "--format", "json", archive)

    assert p.returncode == 1
    finding, summary = [json.loads(line) for line in p.stdout.splitlines()]
    assert finding["status"] == "missing"
    assert summary["summary"] == {"intact": 4, "missing": 1} and summary["files"] == 4
    assert finding["path"] == str(archive / "scanners" / "deid-data" / "ctbrain1.dcm")
    assert "Traceback" not in p.stderr


def test_verify_json_prints_one_object_per_finding_then_the_summary_last(
        recorded: Path, archive: Path) -> None:
    change_patient_id(archive / "ct" / PATIENTS[0][0] / "slice001.dcm")
    (archive / "ct" / PATIENTS[0][0] / "slice003.dcm").unlink()
    mr = archive / "scanners" / "dcm4che" / "MR-JPEGLosslessSV1.dcm"
    mr.write_bytes(mr.read_bytes()[:1000])

    r = run("verify", "--data-dir", recorded, "--workers", "1", "--format", "json", archive)

    assert r.exit_code == 1
    *rows, summary = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert set(row) == {"status", "sop_instance_uid", "path", "detail"}
        assert row["sop_instance_uid"]
    assert sorted(row["status"] for row in rows) == ["corrupted", "identity_altered", "missing"]
    assert set(summary) == {"summary", "ledger_trusted", "files"}
    assert summary["ledger_trusted"] is True
    assert summary["summary"]["intact"] == 2
    assert summary["files"] == 4


def test_verify_with_an_unknown_format_is_an_error(recorded: Path, archive: Path) -> None:
    assert_one_clean_error_line(run("verify", "--data-dir", recorded, "--format", "xml",
                                    archive), "xml")


# ---------------------------------------------------------------------------------------------
# errors: one clear line, no traceback
# ---------------------------------------------------------------------------------------------


def test_record_before_init_is_one_clear_error(home: Path, archive: Path) -> None:
    line = assert_one_clean_error_line(run("record", "--data-dir", home, archive),
                                       "not a pacsguard data directory", "pacsguard init")
    assert str(home) in line


def test_verify_of_a_missing_folder_is_one_clear_error(recorded: Path, tmp_path: Path) -> None:
    assert_one_clean_error_line(run("verify", "--data-dir", recorded, tmp_path / "nowhere"),
                                str(tmp_path / "nowhere"), "no such file or folder")


def test_deleted_file_is_missing_when_the_archive_was_recorded_by_a_relative_path(
    home: Path, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("init", "--data-dir", home).exit_code == 0
    r = run("record", "--data-dir", home, "--workers", "1", "archive")
    assert r.exit_code == 0, r.output
    (archive / "ct" / PATIENTS[0][0] / "slice001.dcm").unlink()

    r = run("verify", "--data-dir", home, "--workers", "1", "archive")

    assert r.exit_code == 1
    assert "missing" in r.stdout


# ---------------------------------------------------------------------------------------------
# privacy
# ---------------------------------------------------------------------------------------------


def test_record_and_verify_output_holds_no_patient_names(home: Path, tmp_path: Path) -> None:
    archive = tmp_path / "with-dup"
    build(archive, with_duplicate=True)
    assert run("init", "--data-dir", home).exit_code == 0

    r = run("record", "--data-dir", home, "--workers", "1", archive)

    assert r.exit_code == 1  # ctbrain2.dcm reuses ctbrain1's UID with other content
    assert "ctbrain2.dcm" in r.output and "changed" in r.output
    moved = archive / "ct" / PATIENTS[0][0] / "slice001.dcm"
    ds = dcmread(moved)
    ds.PatientName = "DEMO^CAROL"
    ds.save_as(moved)
    v = run("verify", "--data-dir", home, "--workers", "1", archive)
    assert "PatientName" in v.stdout
    for out in (r.output, v.output):
        for name in ("SIMPSON", "HOMER", "DEMO^ALICE", "ALICE", "DEMO^CAROL", "CAROL",
                     PATIENTS[0][2]):
            assert name not in out, name
