"""The fuzz campaign: it catches a crash with a reproducer that works, it is reproducible from
its seed, it is paced (liveness checks included), its data sets stay labelled, a robust node
comes through it, and a bad reproducer is refused before anything is sent."""

from __future__ import annotations

import json
import signal
import socket
import struct
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pacsguard.assess import fuzz, policy
from pacsguard.assess.fuzz import alive_after, replay
from pacsguard.assess.fuzz_cases import Case, campaign
from pacsguard.assess.net import Channel, Pacer
from pacsguard.assess.reproducer import FORMAT, load
from pacsguard.assess.runner import assess
from pacsguard.assess.testdata import TEST_PATIENT_NAME, TEST_PATIENT_PREFIX
from pacsguard.cli.assess import register
from pacsguard.dicom.status import Pdu
from pacsguard.errors import AssessError
from pacsguard.findings import Severity
from tests.assess.targets import (
    Fragile,
    contacted,
    counting_proxy,
    fragile_peer,
    listener,
    options,
)
from tests.peers import free_port, storescp


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


def test_liveness_checks_wait_their_turn_so_a_campaign_stays_under_the_rate(
        tmp_path: Path) -> None:
    rate = 5.0
    with storescp(tmp_path) as port, counting_proxy(port) as proxy:
        opts = options(proxy.port, fuzz_cases=12, seed=11, rate=rate,
                       reproducers=tmp_path / "reproducers")
        _, access = policy.check(opts, Pacer(50))
        proxy.opened.clear()
        started = time.monotonic()
        section = fuzz.check(access, opts, Pacer(rate), [])
        elapsed = time.monotonic() - started
    assert {f.name: f.value for f in section.facts}["cases"] == "12 of 12"
    # every case and every liveness check is a connection, and each waited its turn
    assert len(proxy.opened) >= 25
    assert len(proxy.opened) <= rate * elapsed + 1 + 1e-6, (len(proxy.opened), elapsed)


def test_liveness_retries_against_a_node_that_is_down_are_paced() -> None:
    pacer = Pacer(4)
    started = time.monotonic()
    first, last = alive_after(Channel("127.0.0.1", "127.0.0.1", free_port()), "ANY-SCP",
                              1.0, pacer)
    elapsed = time.monotonic() - started
    assert first.state == last.state == "refused"
    assert pacer.requests >= 2  # the first check and its retries all went through the pacer
    assert elapsed >= (pacer.requests - 1) / 4


def _data_pdvs(case: Case) -> list[bytes]:
    """The data-set PDVs (not command PDVs) of a case's P-DATA-TF PDUs."""
    out = []
    for step in case.steps:
        b = step.send
        if len(b) < 12 or b[0] != Pdu.P_DATA_TF:
            continue
        ctrl = b[11]
        if not ctrl & 0x01:
            out.append(b[12:])
    return out


def _element(data: bytes, tag: bytes) -> tuple[bytes, bytes]:
    """(VR or b'', value) of the first element ``tag`` (group, element, little endian) in a
    Little Endian data set, explicit or implicit."""
    i = data.index(tag)
    vr = data[i + 4:i + 6]
    if vr.isalpha() and vr.isupper():
        (n,) = struct.unpack("<H", data[i + 6:i + 8])
        return vr, data[i + 8:i + 8 + n]
    (n,) = struct.unpack("<L", data[i + 4:i + 8])
    return b"", data[i + 8:i + 8 + n] if n != 0xFFFFFFFF else b"<undefined length>"


def test_every_data_set_case_keeps_the_test_patient_label_that_cleanup_relies_on() -> None:
    cases = [c for c in campaign(42, 200, "ANY-SCP", with_datasets=True) if c.study_uid]
    assert len({c.kind for c in cases}) >= 12
    for case in cases:
        for data in _data_pdvs(case):
            vr, pid = _element(data, b"\x10\x00\x20\x00")  # (0010,0020) Patient ID
            assert vr in (b"", b"LO") and pid.startswith(TEST_PATIENT_PREFIX.encode()), \
                (case.kind, vr, pid)
            vr, name = _element(data, b"\x10\x00\x10\x00")  # (0010,0010) Patient's Name
            assert vr in (b"", b"PN") and name.strip() == TEST_PATIENT_NAME.encode(), \
                (case.kind, vr, name)


def test_a_reproducer_whose_called_title_is_not_an_ae_title_is_refused_before_sending(
        fragile: Fragile, tmp_path: Path) -> None:
    a = assess(options(fragile.port, fuzz_cases=40, seed=1234, timeout=1.5,
                       reproducers=tmp_path))
    assert a.exit_status == 6
    [path] = sorted(tmp_path.glob("*.json"))
    doc = json.loads(path.read_text())
    for bad in ("A" * 17, "BACK\\SLASH", "ÄRZTEHAUS"):
        doc["called_aet"] = bad
        path.write_text(json.dumps(doc))
        with pytest.raises(AssessError, match="not a valid AE title"):
            load(path)
        with listener() as (port, s):
            r = CliRunner().invoke(_app(), ["assess-replay", str(path), f"127.0.0.1:{port}",
                                            "--authorized-by", "Test Runner, pytest"])
            assert r.exit_code == 2, r.output
            assert "not a valid AE title" in r.output and "Traceback" not in r.output
            assert not contacted(s)


@pytest.mark.parametrize("called", ["A" * 17, "BACK\\SLASH", "ÄRZTEHAUS", "TAB\tHERE"])
def test_replay_refuses_a_called_title_that_is_not_an_ae_title_before_sending(
        tmp_path: Path, called: str) -> None:
    [case] = list(campaign(1, 1, "ANY-SCP", with_datasets=False))
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"format": FORMAT, "called_aet": "ANY-SCP", "seed": 1,
                                "case": 1, "kind": case.kind, "description": "",
                                "steps": [s.as_dict() for s in case.steps]}))
    with listener() as (port, s):
        r = CliRunner().invoke(_app(), ["assess-replay", str(path), f"127.0.0.1:{port}",
                                        "--authorized-by", "Test Runner, pytest",
                                        "--called-aet", called])
        assert r.exit_code == 2, r.output
        assert "--called-aet" in r.output and "not a valid AE title" in r.output
        assert not contacted(s)


def test_a_reproducer_that_cannot_be_written_is_a_fact_not_a_lost_finding(
        fragile: Fragile, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the reproducers folder should go")
    a = assess(options(fragile.port, fuzz_cases=40, seed=1234, timeout=1.5,
                       reproducers=blocked))
    [crash] = [f for f in a.findings if f.id == "FUZZ-CRASH"]
    assert "seed 1234" in crash.evidence and "Reproducer:" not in crash.evidence
    [section] = [s for s in a.sections if s.family == "fuzz"]
    assert {f.name: f.value for f in section.facts}["reproducers not written"].startswith(
        f"{blocked}: ")


def test_reproducers_are_written_next_to_the_report_by_default(
        fragile: Fragile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current folder is not where the report goes
    reports = tmp_path / "reports"
    reports.mkdir()
    r = CliRunner().invoke(_app(), [
        "assess", f"127.0.0.1:{fragile.port}", "--authorized-by", "Test Runner, pytest",
        "--fuzz", "40", "--seed", "1234", "--timeout", "1.5", "--rate", "20",
        "--json", str(reports / "assessment.json")])
    assert r.exit_code == 6, r.output
    [path] = sorted(reports.glob("*-seed1234-case*.json"))
    assert not any(elsewhere.iterdir())
    report = json.loads((reports / "assessment.json").read_text())
    [crash] = [f for f in report["findings"] if f["id"] == "FUZZ-CRASH"]
    assert str(path) in crash["evidence"]
