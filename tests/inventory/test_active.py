"""Active discovery against real DICOM peers on loopback: dcmtk's storescp (plain and TLS)
and Orthanc. Only 127.0.0.1 is ever contacted."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from pacsguard.advisories.match import MatchStatus, match
from pacsguard.advisories.store import current_products, import_paths
from pacsguard.cli.main import app
from pacsguard.dicom.uids import VERIFICATION
from pacsguard.dicom.ul import Acceptor, Rejection
from pacsguard.errors import ConfigError
from pacsguard.inventory.active import identify, parse_target, probe, remember
from pacsguard.inventory.machines import list_machines
from tests.peers import free_port, make_tls_pair, orthanc, storescp


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def test_a_dcmtk_node_is_identified_and_matched_against_a_dcmtk_alert(
        engine: Engine, tmp_path: Path) -> None:
    with storescp(tmp_path) as port:
        p = probe(parse_target(f"127.0.0.1:{port}"), timeout=5)
    assert p.reachable and p.dicom and p.accepted
    assert p.any_calling_aet is True  # storescp accepts any calling AE title
    assert (p.vendor, p.implementation) == ("OFFIS", "DCMTK")
    assert re.fullmatch(r"\d+\.\d+\.\d+", p.version)
    assert p.implementation_class_uid.startswith("1.2.276.0.7230010.3")
    assert p.implementation_version_name.startswith("OFFIS_DCMTK_")
    assert p.echo_status == 0 and p.tls is False
    assert any("unknown calling AE title" in f for f in p.findings())
    assert any("plain TCP only" in f for f in p.findings())

    mid = remember(engine, p)
    [m] = [m for m in list_machines(engine) if m.id == mid]
    assert m.source == "active" and m.model == "DCMTK" and m.software_versions == (p.version,)
    assert m.station_name == f"127.0.0.1:{port}"

    # an alert for the DCMTK versions before the installed one, and one that includes it
    major, minor, patch = (int(x) for x in p.version.split("."))
    (tmp_path / "dcmtk.yaml").write_text(
        f"- id: DCMTK-OLD\n  title: DCMTK path traversal\n  vendor: OFFIS\n"
        f"  products: [DCMTK]\n  affected_versions: '<{p.version}'\n"
        f"- id: DCMTK-NOW\n  title: DCMTK heap overflow\n  vendor: OFFIS\n"
        f"  products: [DCMTK]\n  affected_versions: '<= {major}.{minor}.{patch}'\n")
    list(import_paths(engine, [tmp_path / "dcmtk.yaml"]))
    res = {r.tracking_id: r.status for r in match(current_products(engine),
                                                  list_machines(engine)) if r.machine_id == mid}
    assert res == {"DCMTK-OLD": MatchStatus.NOT_AFFECTED, "DCMTK-NOW": MatchStatus.AFFECTED}


def test_orthanc_rejects_a_wrong_called_ae_title_with_the_reason(tmp_path: Path) -> None:
    with orthanc(tmp_path, aet="ORTHANC") as peer:
        wrong = probe(parse_target(f"127.0.0.1:{peer.port}"), called_aet="NOT-ME", timeout=5)
        right = probe(parse_target(f"127.0.0.1:{peer.port}"), called_aet="ORTHANC", timeout=5)
    assert wrong.reachable and wrong.dicom and not wrong.accepted
    assert "Called AE title not recognised" in wrong.reject
    assert right.accepted and right.implementation == "DCMTK"  # Orthanc answers as DCMTK
    assert right.echo_status == 0


def test_a_tls_only_node_is_found_speaking_tls_with_its_certificate(tmp_path: Path) -> None:
    key, cert = make_tls_pair(tmp_path)
    with storescp(tmp_path, tls=(key, cert)) as port:
        p = probe(parse_target(f"127.0.0.1:{port}"), timeout=5)
    assert p.tls is True and p.over_tls and p.accepted
    assert "TLSv1" in p.tls_detail and "CN=pacsguard-test-scp" in p.tls_detail
    assert "expires" in p.tls_detail
    assert p.implementation == "DCMTK"
    assert not any("plain TCP" in f for f in p.findings())


def test_nothing_listening_is_unreachable_not_an_error(tmp_path: Path) -> None:
    p = probe(parse_target(f"127.0.0.1:{free_port()}"), timeout=2)
    assert not p.reachable and "refused" in p.error.lower()
    assert p.findings()[0].startswith("not reachable")


@pytest.mark.parametrize("text", ["10.0.0.0/24:104", "127.0.0.1", "127.0.0.*:104",
                                  "127.0.0.1:104,127.0.0.2:104", "127.0.0.1:0",
                                  "127.0.0.1:70000", "host name:104"])
def test_targets_are_one_host_and_one_port_never_a_range(text: str) -> None:
    with pytest.raises(ConfigError, match="target"):
        parse_target(text)


def test_parse_target_accepts_an_ipv6_literal() -> None:
    t = parse_target("[::1]:11112")
    assert (t.address, t.port) == ("::1", 11112)


@pytest.mark.parametrize(("uid", "name", "expected"), [
    ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", ("OFFIS", "DCMTK", "3.6.7")),
    ("1.2.276.0.7230010.3.0.3.6.10", "OFFIS_DCMTK_3610", ("OFFIS", "DCMTK", "3.6.10")),
    ("1.2.826.0.1.3680043.9.3811.3.0.4", "PYNETDICOM_304", ("pynetdicom", "pynetdicom",
                                                             "3.0.4")),
    ("1.2.40.0.13.1.3", "dcm4che-5.31.0", ("dcm4che", "dcm4che", "5.31.0")),
    ("1.9.9.9", "SOMETHING", ("", "", "")),
])
def test_identify_known_implementations(uid: str, name: str,
                                        expected: tuple[str, str, str]) -> None:
    assert identify(uid, name) == expected


def test_discover_command_refuses_a_range_before_contacting_anything(data_dir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--data-dir", str(data_dir)]).exit_code == 0
    r = runner.invoke(app, ["discover", "127.0.0.1:104", "10.1.0.0/16:104", "--data-dir",
                            str(data_dir)])
    assert r.exit_code == 2 and "never scanned" in r.output


@contextlib.contextmanager
def _refusing(result: int, source: int, reason: int) -> Iterator[int]:
    """pacsguard's own acceptor on 127.0.0.1, answering every association with this
    A-ASSOCIATE-RJ; yields its port."""
    from pynetdicom.presentation import build_context

    acceptor = Acceptor("ANY-SCP", [build_context(VERIFICATION)],
                        lambda rq: Rejection(result, source, reason, "test"),
                        lambda rq, msg: 0, artim_timeout=5, idle_timeout=5)
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, address = server.accept()
            except OSError:
                return
            threading.Thread(target=acceptor.serve, args=(conn, address), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_rejection_is_recorded_in_the_words_discover_has_always_used() -> None:
    with _refusing(1, 1, 3) as port:
        p = probe(parse_target(f"127.0.0.1:{port}"), timeout=5)
    assert p.dicom and not p.accepted and p.any_calling_aet is False
    assert p.reject == "Rejected Permanent / Service User / Calling AE title not recognised"


def test_a_rejection_with_a_reserved_reason_is_not_taken_for_a_dicom_answer() -> None:
    with _refusing(1, 1, 4) as port:  # PS3.8 Table 9-21: reason 4 is reserved
        p = probe(parse_target(f"127.0.0.1:{port}"), timeout=5)
    assert not p.dicom and p.reject == "" and p.any_calling_aet is None
    assert p.error.startswith("no DICOM answer")
