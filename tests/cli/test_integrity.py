"""Specification of the ``pacsguard`` command line, end to end.

Most tests drive ``pacsguard.cli.main.app`` in-process with typer's CliRunner (COLUMNS=1000, so
rich does not wrap lines); a few run the installed console script as a real subprocess.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from typer.testing import CliRunner, Result

from pacsguard.cli.main import app
from pacsguard.demo.scenario import PATIENTS, _ct_slice
from pacsguard.integrity import merkle
from pacsguard.integrity.checkpoint import Verifier
from pacsguard.workspace import Workspace
from tests.attacks import roll_back_ledger

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "pacsguard" / "demo" / "samples"
CONSOLE_SCRIPT = Path(sys.executable).parent / "pacsguard"
ORIGIN = "cli.test.pacsguard.local/ledger"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "1000"})


def script(*args: str | Path, cwd: Path | None = None,
           columns: str | None = "1000") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PACSGUARD_") and k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    return subprocess.run([str(CONSOLE_SCRIPT), *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=cwd, stdin=subprocess.DEVNULL, timeout=120)


def flat(text: str) -> str:
    return " ".join(text.split())


def build(archive: Path, with_duplicate: bool = False) -> None:
    """Two real scanner files (one with the fake name SIMPSON^HOMER) and one CT series."""
    names = ["deid-data/ctbrain1.dcm", "dcm4che/MR-JPEGLosslessSV1.dcm"]
    if with_duplicate:
        names.append("deid-data/ctbrain2.dcm")
    for rel in names:
        dst = archive / "scanners" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / rel, dst)
    rng = np.random.default_rng(1)
    study, series = generate_uid(), generate_uid()
    folder = archive / "ct" / PATIENTS[0][0]
    folder.mkdir(parents=True)
    for n in range(3):
        _ct_slice(PATIENTS[0], study, series, n, rng).save_as(folder / f"slice{n + 1:03d}.dcm",
                                                              enforce_file_format=True)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    a = tmp_path / "archive"
    build(a)
    return a


@pytest.fixture
def recorded(home: Path, archive: Path) -> Path:
    """An initialised data directory with ``archive`` recorded in it."""
    r = run("init", "--data-dir", home, "--origin", ORIGIN)
    assert r.exit_code == 0, r.output
    r = run("record", "--data-dir", home, "--workers", "1", archive)
    assert r.exit_code == 0, r.output
    return home


def assert_one_clean_error_line(r: Result | subprocess.CompletedProcess[str], *words: str) -> str:
    code = r.exit_code if isinstance(r, Result) else r.returncode
    assert code not in (0, 1), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def delete_newest(home: Path, keep: int) -> None:
    roll_back_ledger(Workspace(home).settings()["database_url"], keep)


def change_patient_id(path: Path, new_id: str = "DEMO0003") -> None:
    ds = dcmread(path)
    ds.PatientID = new_id
    ds.save_as(path)


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
# the ledger commands
# ---------------------------------------------------------------------------------------------


def test_ledger_key_prints_name_keyhash_and_base64_key(recorded: Path) -> None:
    r = run("ledger", "key", "--data-dir", recorded)
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    m = re.fullmatch(r"(?P<name>[^+\s]+)\+(?P<hash>[0-9a-f]{8})\+(?P<b64>[A-Za-z0-9+/]+=*)", key)
    assert m is not None, key
    assert m["name"] == ORIGIN
    raw = base64.b64decode(m["b64"])
    assert len(raw) == 33 and raw[0] == 0x01  # Ed25519 algorithm byte + 32-byte key
    assert key == (recorded / "ledger.pub").read_text().strip()


def test_ledger_checkpoint_prints_a_signed_note(recorded: Path) -> None:
    r = run("ledger", "checkpoint", "--data-dir", recorded)
    assert r.exit_code == 0, r.output
    note = r.stdout
    lines = note.splitlines()
    assert lines[0] == ORIGIN
    assert lines[1] == "5"
    assert len(base64.b64decode(lines[2])) == 32
    sigs = [line for line in lines if line.startswith("— ")]
    assert sigs and sigs[0].startswith(f"— {ORIGIN} ")
    key = run("ledger", "key", "--data-dir", recorded).stdout.strip()
    assert Verifier.from_key(key).verify(note).tree_size == 5
    assert (recorded / "latest-checkpoint").read_text() == note


def test_ledger_prove_prints_a_json_inclusion_proof(recorded: Path, archive: Path) -> None:
    uid = str(dcmread(archive / "ct" / PATIENTS[0][0] / "slice002.dcm").SOPInstanceUID)

    r = run("ledger", "prove", "--data-dir", recorded, uid)

    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"leaf_index", "tree_size", "leaf_b64", "inclusion_path", "checkpoint"}
    assert doc["tree_size"] == 5
    cp = Verifier.from_key((recorded / "ledger.pub").read_text().strip()).verify(
        doc["checkpoint"])
    merkle.verify_inclusion(merkle.hash_leaf(base64.b64decode(doc["leaf_b64"])),
                            doc["leaf_index"], doc["tree_size"],
                            [bytes.fromhex(h) for h in doc["inclusion_path"]], cp.root_hash)
    assert_one_clean_error_line(run("ledger", "prove", "--data-dir", recorded, "1.2.3.999"),
                                "1.2.3.999")


def test_ledger_audit_passes_after_more_records_and_fails_after_a_rollback(
    recorded: Path, archive: Path, tmp_path: Path
) -> None:
    witnessed = tmp_path / "witness.note"
    witnessed.write_text(run("ledger", "checkpoint", "--data-dir", recorded).stdout)
    more = tmp_path / "more"
    build(more)
    r = run("record", "--data-dir", recorded, "--workers", "1", more)
    assert r.exit_code == 0, r.output

    r = run("ledger", "audit", "--data-dir", recorded, "--checkpoint", witnessed)
    assert r.exit_code == 0, r.output
    assert "OK" in r.stdout
    assert "witnessed checkpoint: 5 entries" in r.stdout
    assert "ledger now: 8 entries" in r.stdout  # the 3 new slices; the 2 copies are unchanged

    delete_newest(recorded, 3)
    r = run("ledger", "audit", "--data-dir", recorded, "--checkpoint", witnessed)
    assert_one_clean_error_line(r, "ROLLED BACK")
    r = run("verify", "--data-dir", recorded, "--workers", "1", archive)
    assert r.exit_code == 1
    assert "LEDGER TAMPERED" in r.stdout


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


def test_audit_with_a_garbage_checkpoint_file_is_one_clear_error(
    recorded: Path, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.note"
    garbage.write_text("this is not a checkpoint\n")
    assert_one_clean_error_line(run("ledger", "audit", "--data-dir", recorded, "--checkpoint",
                                    garbage), "note")
    binary = tmp_path / "binary.note"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_clean_error_line(run("ledger", "audit", "--data-dir", recorded, "--checkpoint",
                                    binary))
    assert_one_clean_error_line(run("ledger", "audit", "--data-dir", recorded, "--checkpoint",
                                    tmp_path / "absent.note"), "cannot be read")


def test_console_script_error_has_no_traceback(tmp_path: Path) -> None:
    p = script("verify", "--data-dir", tmp_path / "nohome", tmp_path)
    assert_one_clean_error_line(p, "pacsguard init")


def test_console_script_error_is_one_line_even_when_longer_than_80_columns(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-for-an-archive-" * 3) / "home"
    p = script("record", "--data-dir", deep, tmp_path, columns=None)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


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
# privacy and the demo
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


def test_demo_detects_every_tampering(tmp_path: Path) -> None:
    r = run("demo", "--workdir", tmp_path / "demo")
    assert r.exit_code == 0, r.output
    assert "8 of 8 tamperings detected" in flat(r.stdout)
    assert "Traceback" not in r.output
