"""Shared by the gateway tests (and the assessment's and the CLI's that need a gateway): a
gateway started as a real process (``pacsguard gateway run``) on 127.0.0.1 with its own spool,
audit log and ledger (the ``start_gateway`` fixture, which tests/gateway/conftest.py makes
available), dcmtk's storescu/echoscu to talk to it, and a destination to forward to."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pacsguard.workspace import Workspace
from tests.peers import free_port

PATIENT_NAMES = ("Doe^Jane", "Smith^John", "Brown^Alex")


@dataclass
class Gateway:
    port: int
    home: Path
    spool: Path
    audit: Path
    proc: subprocess.Popen[bytes]

    def audit_events(self) -> list[dict[str, object]]:
        if not self.audit.exists():
            return []
        return [json.loads(x) for x in self.audit.read_text().splitlines()]

    def ledger_uids(self) -> set[str]:
        ledger, _, _ = Workspace(self.home).open_ledger(read_only=True)
        try:
            return {s.entry.fingerprint.sop_instance_uid for s, _, _ in ledger.iter_entries()}
        finally:
            ledger.engine.dispose()

    def queued(self) -> list[Path]:
        return sorted((self.spool / "held").iterdir())


def gateway_config(tmp: Path, port: int, extra: str = "", tls: str = "", tail: str = "") -> Path:
    cfg = tmp / "gateway.toml"
    cfg.write_text(f"""
[gateway]
ae_title = "PACSGUARD"
listen_address = "127.0.0.1"
port = {port}
spool_dir = "spool"
audit_log = "audit.jsonl"
data_dir = "home"
allow_plain_tcp = {"false" if tls else "true"}
{extra}
{tls}

[[sender]]
ae_title = "CT01"
addresses = ["127.0.0.1"]

[[sender]]
ae_title = "CT02"
addresses = ["10.9.9.9/32"]
{tail}
""")
    return cfg


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(extra: str = "", tls: str = "", tail: str = "") -> Gateway:
        port = free_port()
        cfg = gateway_config(tmp_path, port, extra, tls, tail)
        home = tmp_path / "home"
        if not (home / "pacsguard.toml").exists():
            Workspace(home).init(origin="gw.test/ledger")
        log = (tmp_path / "gateway.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "pacsguard.cli.main", "gateway", "run",
                                 "--config", str(cfg)], stdout=log, stderr=log)
        procs.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail((tmp_path / "gateway.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                pass
            time.sleep(0.2)
        return Gateway(port, home, tmp_path / "spool", tmp_path / "audit.jsonl", proc)

    yield start
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                pytest.fail("the gateway did not stop within 30 s of SIGTERM")
    bad = [p.returncode for p in procs if p.returncode not in (0, -signal.SIGKILL)]
    if bad:
        pytest.fail(f"the gateway exited with {bad}: {(tmp_path / 'gateway.log').read_text()}")


def echo(port: int, calling: str, called: str = "PACSGUARD") -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("echoscu") or "echoscu", "-to", "5", "-aet", calling,
                           "-aec", called, "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=30)


#: the storescu profile docs/gateway.md gives for sending compressed images as they are
AS_THEY_ARE = Path(__file__).resolve().parents[2] / "docs" / "storescu-as-they-are.cfg"


def storescu(port: int, folder: Path, calling: str = "CT01", as_they_are: bool = False,
             called: str = "PACSGUARD") -> subprocess.CompletedProcess[str]:
    """dcmtk's storescu sending ``folder``; ``as_they_are``: with the profile of
    docs/storescu-as-they-are.cfg, each file in its own transfer syntax."""
    profile = ["-xf", str(AS_THEY_ARE), "AsTheyAre"] if as_they_are else []
    return subprocess.run([shutil.which("storescu") or "storescu", "-to", "10", *profile,
                           "-aet", calling, "-aec", called, "+sd", "+r", "127.0.0.1",
                           str(port), str(folder)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TCP_NODELAY": "1"})


def uids(folder: Path) -> set[str]:
    from pydicom import dcmread

    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID)
            for p in folder.rglob("*.dcm")}




def destination(port: int, ae: str = "ORTHANC", extra: str = "") -> str:
    """A ``[[destination]]`` named ``pacs`` on 127.0.0.1, plain TCP, quick to back off."""
    return (f'\n[[destination]]\nname = "pacs"\nae_title = "{ae}"\nhost = "127.0.0.1"\n'
            f"port = {port}\nallow_plain_tcp = true\nbackoff_min_seconds = 0.2\n"
            f"backoff_max_seconds = 1\ntimeout_seconds = 5\n{extra}")


def wait_until(predicate: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def waiting(gw: Gateway) -> int:
    """How many instances wait in the queue of destination ``pacs``."""
    return len(list((gw.spool / "out" / "pacs").iterdir()))
