"""``assess`` against real Orthanc servers on loopback: as installed, and hardened; and what
Ctrl-C in the middle of a campaign leaves behind (nothing)."""

from __future__ import annotations

import _thread
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import typer
from typer.testing import CliRunner

from pacsguard.assess.runner import assess
from pacsguard.cli.assess import register
from pacsguard.findings import Severity
from tests.assess.targets import Orthanc, client_tls, options

DEFAULT_WEAKNESSES = {"ASSOC-ANY-CALLED", "ASSOC-ANY-CALLING", "STORE-ANY-CALLER",
                      "STORE-INTO-EXISTING", "TLS-ABSENT", "WEB-NO-AUTH"}


def facts(a: object, family: str) -> dict[str, str]:
    from pacsguard.assess.model import Assessment

    assert isinstance(a, Assessment)
    [s] = [s for s in a.sections if s.family == family]
    return {f.name: f.value for f in s.facts}


def test_default_orthanc_accepts_any_called_title_stores_from_anyone_and_has_no_tls(
        orthanc_default: Orthanc) -> None:
    peer = orthanc_default
    started = time.monotonic()
    a = assess(options(peer.port, allow_write=True, http=peer.url))
    elapsed = time.monotonic() - started
    ids = {f.id for f in a.findings}
    assert ids >= DEFAULT_WEAKNESSES
    assert a.worst is Severity.HIGH and a.exit_status == 5
    # Orthanc 1.10 refuses C-FIND, C-MOVE and C-GET from unknown callers by default
    assert not ids & {"QR-FIND-OPEN", "QR-MOVE-ANY-DEST", "QR-GET-OPEN"}
    assert facts(a, "identity")["identified as"].startswith("DCMTK 3.")
    assert "Orthanc 1." in facts(a, "identity")["identified as"]
    # the test instances were labelled, then deleted through the REST API
    assert "CLEANUP-INCOMPLETE" not in ids
    assert facts(a, "cleanup")["deleted"] == "1" and facts(a, "cleanup")["left"] == "0"
    assert peer.instances() == 0
    assert elapsed < 10, f"an assessment without fuzzing took {elapsed:.1f} s"


def test_hardened_orthanc_raises_none_of_the_default_findings(
        orthanc_hardened: Orthanc) -> None:
    peer = orthanc_hardened
    a = assess(options(peer.port, called_aet=peer.aet, tls=client_tls(peer), http=peer.url,
                       http_user=peer.user, http_password=peer.password, allow_write=True))
    ids = {f.id for f in a.findings}
    assert not ids & (DEFAULT_WEAKNESSES | {"TLS-PLAIN-ALONGSIDE", "TLS-NO-CLIENT-CERT",
                                            "QR-FIND-OPEN", "QR-GET-OPEN",
                                            "ASSOC-DEFAULT-CALLED", "TLS-CERT-EXPIRED"})
    policy = facts(a, "policy")
    assert policy["channel"].endswith("over TLS")
    assert policy["unknown calling title"].startswith("rejected")
    assert facts(a, "transport")[f"client certificate ({peer.port})"].startswith("required")
    assert peer.instances() == 0  # nothing could be written
    # the REST API asked for the password; with it, it named the product
    assert "Orthanc 1." in facts(a, "identity")["identified as"]
    assert a.worst <= Severity.MEDIUM  # what is left: the REST API over plain HTTP


def test_without_a_client_certificate_the_hardened_node_is_seen_to_insist_on_one(
        orthanc_hardened: Orthanc) -> None:
    a = assess(options(orthanc_hardened.port))
    [policy] = [s for s in a.sections if s.family == "policy"]
    assert "client certificate" in policy.skipped
    # nothing behind the TLS handshake was assessed: no verdict, not a pass
    assert not a.complete and a.verdict == "incomplete" and a.exit_status == 2
    assert facts(a, "transport")[f"client certificate ({orthanc_hardened.port})"] \
        .startswith("required")
    assert not {f.id for f in a.findings} & {"TLS-ABSENT", "TLS-NO-CLIENT-CERT"}


def test_orthanc_survives_a_campaign_and_every_test_instance_it_kept_is_deleted(
        orthanc_default: Orthanc, tmp_path: Path) -> None:
    peer = orthanc_default
    a = assess(options(peer.port, fuzz_cases=50, seed=5, rate=50, allow_write=True,
                       http=peer.url, reproducers=tmp_path / "reproducers"))
    ids = {f.id for f in a.findings}
    assert not ids & {"FUZZ-CRASH", "FUZZ-HANG", "CLEANUP-INCOMPLETE"}
    assert facts(a, "fuzz")["cases"] == "50 of 50"
    assert facts(a, "cleanup")["left"] == "0"
    assert peer.instances() == 0


def test_ctrl_c_during_a_campaign_still_deletes_every_test_instance_and_says_so(
        orthanc_default: Orthanc, tmp_path: Path) -> None:
    """Ctrl-C arrives once Orthanc holds a fuzz case's instance (beyond the write checks'
    two): the command cleans up what the write checks and the campaign sent, says what it
    did, and exits 130."""
    peer = orthanc_default
    app = typer.Typer()
    register(app)
    armed = threading.Event()
    fired = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if armed.is_set():
            raise KeyboardInterrupt

    def watch() -> None:
        while armed.is_set():
            if peer.instances() > 2:
                fired.set()
                _thread.interrupt_main()
                return
            time.sleep(0.05)

    previous = signal.signal(signal.SIGINT, on_sigint)
    armed.set()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        r = CliRunner().invoke(app, [
            "assess", f"127.0.0.1:{peer.port}", "--authorized-by", "Test Runner, T-42",
            "--allow-write", "--http", peer.url, "--fuzz", "200", "--seed", "5",
            "--rate", "50", "--reproducers", str(tmp_path / "reproducers")])
    finally:
        armed.clear()
        watcher.join(timeout=5)
        signal.signal(signal.SIGINT, previous)
    assert fired.is_set(), "the campaign ended before Orthanc kept a fuzz case"
    assert r.exit_code == 130, r.output
    assert "interrupted" in r.output and "committed batches" not in r.output
    assert "test studies 2, deleted 2" in r.output and "left 0" in r.output
    assert peer.instances() == 0


def test_a_given_called_title_is_used_without_guessing_defaults_unless_asked(
        orthanc_hardened: Orthanc) -> None:
    peer = orthanc_hardened
    a = assess(options(peer.port, called_aet=peer.aet, tls=client_tls(peer)))
    policy = facts(a, "policy")
    assert policy["called title used"] == peer.aet
    assert policy["default called titles tried"] == "0"
    assert {f.name: f.value for f in a.settings}["default called titles tried at most"] \
        .startswith("0 (--called-aet given")
    # a wrong title: nothing is guessed, and the report says why the checks could not run
    a = assess(options(peer.port, called_aet="NOT-ITS-TITLE", tls=client_tls(peer)))
    [section] = [s for s in a.sections if s.family == "policy"]
    assert facts(a, "policy")["default called titles tried"] == "0"
    assert section.incomplete and "does not answer to the given --called-aet " \
        "'NOT-ITS-TITLE'; no default titles were tried" in section.skipped
    # asked for: the defaults are tried as well (none is Orthanc's configured title here)
    a = assess(options(peer.port, called_aet="NOT-ITS-TITLE", guesses=3,
                       tls=client_tls(peer)))
    assert facts(a, "policy")["default called titles tried"] == "3"
