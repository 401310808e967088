"""The fuzz campaign: it catches a crash with a reproducer that works, it is reproducible from
its seed, it is paced, and a robust node comes through it."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import typer
from typer.testing import CliRunner

from pacsguard.assess.fuzz import campaign, load, replay
from pacsguard.assess.net import Channel
from pacsguard.assess.runner import assess
from pacsguard.cli.assess import register
from pacsguard.findings import Severity
from tests.assess.targets import Fragile, fragile_peer, options
from tests.peers import storescp


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_the_fuzzer_catches_the_fragile_peer_crash_and_writes_a_reproducer_that_works(
        fragile: Fragile, tmp_path: Path) -> None:
    out = tmp_path / "reproducers"
    a = assess(options(fragile.port, fuzz_cases=40, seed=1234, reproducers=out, timeout=1.5))
    [crash] = [f for f in a.findings if f.id == "FUZZ-CRASH"]
    assert crash.severity is Severity.CRITICAL and a.exit_status == 6
    assert "seed 1234" in crash.evidence and "pc-item-overrun" in crash.evidence
    assert fragile.proc.wait(timeout=5) == -signal.SIGSEGV  # it really died
    [fuzz] = [s for s in a.sections if s.family == "fuzz"]
    facts = {f.name: f.value for f in fuzz.facts}
    assert facts["seed"] == "1234" and "cases/s" in facts["rate"]
    assert "did not come back" in facts["campaign"]
    [path] = sorted(out.glob("*.json"))
    assert str(path) in crash.evidence
    assert load(path).case.kind == "pc-item-overrun"
    assert json.loads(path.read_text())["seed"] == 1234

    # replayed with the function, it crashes a fresh fragile peer again
    with fragile_peer() as fresh:
        result = replay(path, Channel("127.0.0.1", "127.0.0.1", fresh.port), timeout=2)
        assert result.reproduced and result.outcome == "crash"
        assert fresh.proc.wait(timeout=5) == -signal.SIGSEGV
    # replayed with the documented command, too (exit status 6: critical)
    with fragile_peer() as fresh:
        r = CliRunner().invoke(_app(), ["assess-replay", str(path), f"127.0.0.1:{fresh.port}",
                                        "--authorized-by", "Test Runner, pytest",
                                        "--timeout", "2"])
        assert r.exit_code == 6, r.output
        assert "FUZZ-CRASH" in r.output
        assert fresh.proc.wait(timeout=5) == -signal.SIGSEGV
    # and the raw bytes alone (`nc HOST PORT < FILE.bin`) do it as well
    with fragile_peer() as fresh:
        with socket.create_connection(("127.0.0.1", fresh.port), timeout=2) as s:
            s.sendall(path.with_suffix(".bin").read_bytes())
        assert fresh.proc.wait(timeout=5) == -signal.SIGSEGV


def test_a_campaign_is_reproducible_from_its_seed() -> None:
    def run(seed: int) -> list[tuple[str, tuple[bytes, ...]]]:
        return [(c.kind, tuple(s.send for s in c.steps))
                for c in campaign(seed, 120, "ANY-SCP", with_datasets=True)]

    first = run(99)
    assert first == run(99)
    assert first != run(100)  # the random part follows the seed
    kinds = [k for k, _ in first]
    assert len(kinds) == 120
    assert {"pdu-length-4gib", "truncated-header", "unknown-pdu-0xff", "max-pdu-4gib",
            "pc-item-overrun", "ds-vr-unknown", "ds-nesting-2048", "ds-length-4gib",
            "random-pdu", "random-dataset"} <= set(kinds)


def test_a_robust_node_comes_through_a_paced_campaign(tmp_path: Path) -> None:
    with storescp(tmp_path) as port:
        started = time.monotonic()
        a = assess(options(port, fuzz_cases=60, seed=7, rate=25, allow_write=True,
                           reproducers=tmp_path / "reproducers"))
        elapsed = time.monotonic() - started
    assert not {f.id for f in a.findings} & {"FUZZ-CRASH", "FUZZ-HANG"}
    [fuzz] = [s for s in a.sections if s.family == "fuzz"]
    facts = {f.name: f.value for f in fuzz.facts}
    assert facts["cases"] == "60 of 60"
    rate = float(facts["rate"].split()[0])
    assert 0 < rate <= 25.5  # the rate limit holds
    assert elapsed >= 60 / 25
    assert not (tmp_path / "reproducers").exists()
