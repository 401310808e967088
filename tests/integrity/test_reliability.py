"""Crashes, concurrent writers, a shared PostgreSQL ledger, and files the user may not read."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from pacsguard.demo.scenario import PATIENTS, _ct_slice
from pacsguard.integrity import merkle
from pacsguard.integrity.appender import _PG_LOCK_KEY
from pacsguard.integrity.record import record
from pacsguard.integrity.verify import verify
from pacsguard.workspace import Workspace

PACSGUARD = [sys.executable, "-m", "pacsguard.cli.main"]


def _series(folder: Path, n: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    paths = []
    for i in range(n):
        p = folder / f"{i:05d}.dcm"
        _ct_slice(PATIENTS[i % 3], study, series, i, rng).save_as(p, enforce_file_format=True)
        paths.append(p)
    return paths


def _ledger_is_consistent(ws: Workspace) -> int:
    """Every leaf hashes into the stored tree; return the size."""
    ledger, _, _ = ws.open_ledger(read_only=True)
    tree = merkle.MemoryTree()
    uids = set()
    for stored, _, _ in ledger.iter_entries():
        assert stored.leaf_index == tree.size
        tree.append(stored.raw)
        uids.add(stored.entry.fingerprint.sop_instance_uid)
    assert len(uids) == tree.size, "an instance was recorded twice"
    assert ledger.root(tree.size) == tree.root()
    ledger.engine.dispose()
    return tree.size


def test_record_killed_mid_run_resumes_without_losing_or_doubling_entries(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    _series(archive, 1500, seed=1)
    home = tmp_path / "home"
    env = {**os.environ, "PACSGUARD_HOME": str(home)}
    subprocess.run([*PACSGUARD, "init"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([*PACSGUARD, "record", str(archive), "--workers", "2",
                             "--commit-every", "200"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ws = Workspace(home)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill it once the first batch is committed
        ledger, _, _ = ws.open_ledger(read_only=True)
        size = ledger.size()
        ledger.engine.dispose()
        if size > 0:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _ledger_is_consistent(ws)
    assert 0 < partial < 1500, "the kill should land mid-run"
    done = subprocess.run([*PACSGUARD, "record", str(archive)], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert _ledger_is_consistent(ws) == 1500
    again = subprocess.run([*PACSGUARD, "verify", str(archive)], env=env, capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stdout
    assert "ALL INTACT" in again.stdout


def _concurrent_records(ws: Workspace, folders: list[Path], env: dict[str, str]) -> None:
    procs = [subprocess.Popen([*PACSGUARD, "record", str(f), "--workers", "1"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in folders]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err + out


def test_two_record_runs_at_once_on_sqlite_serialise_cleanly(tmp_path: Path) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    for n, f in enumerate(folders):
        _series(f, 400, seed=10 + n)
    ws = Workspace(tmp_path / "home")
    ws.init()
    _concurrent_records(ws, folders, {**os.environ, "PACSGUARD_HOME": str(ws.data_dir)})
    assert _ledger_is_consistent(ws) == 800


@pytest.mark.postgres
def test_two_machines_append_to_one_postgresql_ledger_at_once(tmp_path: Path,
                                                              postgres_url: str) -> None:
    """Two data directories with the same key share one PostgreSQL ledger."""
    first = Workspace(tmp_path / "site-a")
    first.init(database_url=postgres_url, origin="hospital.example/pacs")
    second = Workspace(tmp_path / "site-b")
    shutil.copytree(first.data_dir, second.data_dir)
    folders = [tmp_path / "a", tmp_path / "b"]
    for n, f in enumerate(folders):
        _series(f, 300, seed=20 + n)
    procs = []
    for ws, folder in zip((first, second), folders, strict=True):
        env = {**os.environ, "PACSGUARD_HOME": str(ws.data_dir)}
        procs.append(subprocess.Popen([*PACSGUARD, "record", str(folder), "--workers", "1"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err + out
    assert _ledger_is_consistent(first) == 600
    ledger, profile, key = second.open_ledger(read_only=True)
    report, findings = verify(ledger, profile, key, folders, workers=1)
    assert [f.status.value for f in findings] == []
    assert report.ok


def _same_instances_changed(tmp_path: Path, n: int, seed: int) -> tuple[Path, Path]:
    """Two folders with the same SOP Instance UIDs, the second with another Patient ID: what
    two machines see when an instance was changed between two copies of an archive."""
    first, second = tmp_path / "copy-a", tmp_path / "copy-b"
    second.mkdir()
    for p in _series(first, n, seed):
        ds = dcmread(p)
        ds.PatientID = "CHANGED-ID"
        ds.save_as(second / p.name)
    return first, second


def _start_records(homes: list[Path], folders: list[Path]) -> list[subprocess.Popen[str]]:
    return [subprocess.Popen([*PACSGUARD, "record", str(folder), "--workers", "1", "--format",
                              "json"], env={**os.environ, "PACSGUARD_HOME": str(home)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for home, folder in zip(homes, folders, strict=True)]


def _each_uid_recorded_once_and_reported_changed_once(
        ws: Workspace, procs: list[subprocess.Popen[str]], n: int) -> None:
    changed: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode in (0, 1), err + out
        assert "Traceback" not in err
        for line in out.splitlines():
            found = json.loads(line)
            assert found["outcome"] == "changed", found
            assert found["detail"].startswith("identity_altered"), found
            changed.append(found["sop_instance_uid"])
    ledger, _, _ = ws.open_ledger(read_only=True)
    try:
        stored = [s.entry for s, _, _ in ledger.iter_entries()]
    finally:
        ledger.engine.dispose()
    uids = [e.fingerprint.sop_instance_uid for e in stored]
    assert len(uids) == n, f"{len(uids) - len(set(uids))} instances recorded twice"
    assert {e.kind for e in stored} == {"record"}
    assert sorted(changed) == sorted(uids)  # the run that came second reported each one


@pytest.mark.postgres
def test_two_machines_recording_the_same_changed_instances_at_once_record_each_once(
        tmp_path: Path, postgres_url: str) -> None:
    """Both runs are held at PostgreSQL's writer lock until both wait for it, so each must
    look its instances up after the other's append: exactly one ``record`` entry per UID, and
    the other run reports it ``changed``."""
    import psycopg

    first = Workspace(tmp_path / "site-a")
    first.init(database_url=postgres_url, origin="hospital.example/pacs")
    second = Workspace(tmp_path / "site-b")
    shutil.copytree(first.data_dir, second.data_dir)
    folders = _same_instances_changed(tmp_path, 40, seed=30)
    with psycopg.connect(postgres_url, autocommit=True) as gate:
        gate.execute("SELECT pg_advisory_lock(%s)", (_PG_LOCK_KEY,))
        procs = _start_records([first.data_dir, second.data_dir], list(folders))
        deadline = time.monotonic() + 120
        waiting = 0
        while waiting < 2:
            assert time.monotonic() < deadline, "the two runs never both waited for the lock"
            assert all(p.poll() is None for p in procs), "a run ended before the lock opened"
            time.sleep(0.05)
            row = gate.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                               "AND NOT granted").fetchone()
            waiting = row[0] if row else 0
        gate.execute("SELECT pg_advisory_unlock(%s)", (_PG_LOCK_KEY,))
    _each_uid_recorded_once_and_reported_changed_once(first, procs, 40)


def test_two_record_runs_of_the_same_changed_instances_at_once_on_sqlite_record_each_once(
        tmp_path: Path) -> None:
    """The SQLite form of the test above. Its writer lock cannot be held open from outside
    until both runs wait, so this one does not force the race; it shows the outcome when the
    two runs overlap as they happen to."""
    ws = Workspace(tmp_path / "home")
    ws.init()
    folders = _same_instances_changed(tmp_path, 40, seed=31)
    procs = _start_records([ws.data_dir, ws.data_dir], list(folders))
    _each_uid_recorded_once_and_reported_changed_once(ws, procs, 40)


@pytest.mark.postgres
def test_postgresql_ledger_catches_the_same_tampering_as_sqlite(tmp_path: Path,
                                                               postgres_url: str) -> None:
    archive = tmp_path / "archive"
    paths = _series(archive, 12, seed=3)
    ws = Workspace(tmp_path / "home")
    ws.init(database_url=postgres_url)
    ledger, profile, key = ws.open_ledger()
    assert {r.outcome.value for r in record(ledger, profile, key, [archive], workers=1)} == {
        "recorded"}
    ws.save_checkpoint_copy(ledger.sign_checkpoint())
    paths[0].unlink()
    data = paths[1].read_bytes()
    paths[1].write_bytes(data[:-10] + bytes(10))  # last pixels zeroed
    ro, profile, key = ws.open_ledger(read_only=True)
    report, findings = verify(ro, profile, key, [archive], workers=1,
                              witnessed=ws.checkpoint_copy.read_text())
    got = {(f.status.value, Path(f.path).name) for f in findings}
    assert got == {("missing", paths[0].name), ("pixels_altered", paths[1].name)}
    assert report.integrity.ok and not report.ok


def test_a_file_the_user_cannot_read_is_reported_not_skipped(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    paths = _series(archive, 3, seed=4)
    ws = Workspace(tmp_path / "home")
    ws.init()
    ledger, profile, key = ws.open_ledger()
    list(record(ledger, profile, key, [archive], workers=1))
    ws.save_checkpoint_copy(ledger.sign_checkpoint())
    os.chmod(paths[2], 0)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root reads everything: run without the override capabilities
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed to drop root's read override")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    out = subprocess.run(
        [*prefix, *PACSGUARD, "verify", "--data-dir", str(ws.data_dir), "--format", "json",
         str(archive)], capture_output=True, text=True,
    )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stdout.splitlines() if paths[2].name in ln]
    assert len(lines) == 1, out.stdout
    assert '"status": "corrupted"' in lines[0]
    assert "permission denied" in lines[0]
