"""The gateway's receiving side against dcmtk's storescu and echoscu on 127.0.0.1: recorded
and spooled before Success, allow-list and called AE title enforced at association time,
a full spool refused, an audit log without patient data, graceful SIGTERM."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from pacsguard.errors import ConfigError
from pacsguard.gateway.config import load_config
from tests.fleet import OPTIMA_CT, write_images
from tests.gateway.helpers import PATIENT_NAMES, echo, storescu, uids


def test_images_from_an_allowed_sender_are_recorded_and_spooled_before_success(
        start_gateway: object, tmp_path: Path) -> None:
    gw = start_gateway()  # type: ignore[operator]
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 12)
    r = storescu(gw.port, images)
    assert r.returncode == 0, r.stdout + r.stderr
    assert gw.ledger_uids() == uids(images)
    assert len(gw.queued()) == 12
    events = gw.audit_events()
    closed = [e for e in events if e["event"] == "association_closed"
              and e["calling_aet"] == "CT01" and e["stored"]]
    assert closed and closed[-1]["stored"] == 12 and closed[-1]["failed"] == 0
    text = gw.audit.read_text()
    assert not any(name in text for name in PATIENT_NAMES)
    assert "PatientID" not in text
    # sent again: nothing new in the ledger (same content), still acknowledged
    assert storescu(gw.port, images).returncode == 0
    assert len(gw.ledger_uids()) == 12


@pytest.mark.parametrize(("calling", "called", "reason"), [
    ("INTRUDER", "PACSGUARD", "calling AE title not on the allow-list"),
    ("CT02", "PACSGUARD", "not allowed from this address"),
    ("CT01", "SOMEONE-ELSE", "called AE title is not the gateway's"),
])
def test_unknown_callers_and_wrong_called_titles_are_rejected_and_audited(
        start_gateway: object, calling: str, called: str, reason: str) -> None:
    gw = start_gateway()  # type: ignore[operator]
    r = echo(gw.port, calling, called)
    assert r.returncode != 0
    assert "Rejected" in r.stdout + r.stderr or "rejected" in r.stdout + r.stderr
    rejected = [e for e in gw.audit_events() if e["event"] == "association_rejected"]
    assert rejected and rejected[-1]["calling_aet"] == calling
    assert reason in str(rejected[-1]["reason"])
    assert rejected[-1]["address"] == "127.0.0.1"


def test_a_full_spool_is_refused_never_acknowledged(start_gateway: object,
                                                     tmp_path: Path) -> None:
    images = tmp_path / "modality"
    paths = write_images(images, OPTIMA_CT, 6)
    size = max(p.stat().st_size for p in paths)
    gw = start_gateway(f"spool_max_bytes = {int(size * 3.5)}")  # type: ignore[operator]
    r = storescu(gw.port, images)
    out = r.stdout + r.stderr
    assert "Out of Resources" in out or "0xa700" in out.lower() or r.returncode != 0
    queued = gw.queued()
    assert len(queued) == 3
    # exactly the acknowledged (queued) instances are in the ledger; the refused one is not
    from pydicom import dcmread

    assert gw.ledger_uids() == {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                                for p in queued}
    refused = [e for e in gw.audit_events() if e["event"] == "store_refused"]
    assert refused and "spool full" in str(refused[0]["reason"])  # storescu stops there
    # the refused instance is named (a UID is not patient data): sent, and not recorded
    sent = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}
    assert refused[0]["sop_instance_uid"] in sent - gw.ledger_uids()


def test_dicom_tls_with_dcmtk_and_client_certificates(start_gateway: object,
                                                       tmp_path: Path) -> None:
    from tests.peers import make_tls_pair

    server_key, server_crt = make_tls_pair(tmp_path / "server")
    client_key, client_crt = make_tls_pair(tmp_path / "client")
    stranger_key, stranger_crt = make_tls_pair(tmp_path / "stranger")
    gw = start_gateway(tls=f"[tls]\ncertificate = '{server_crt}'\nprivate_key = "  # type: ignore[operator]
                       f"'{server_key}'\nclient_ca = '{client_crt}'\n")
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 3)
    storescu = shutil.which("storescu") or "storescu"
    base = [storescu, "-to", "10", "-aet", "CT01", "-aec", "PACSGUARD"]
    ok = subprocess.run([*base, "+tls", str(client_key), str(client_crt), "+cf", str(server_crt),
                         "+sd", "+r", "127.0.0.1", str(gw.port), str(images)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert gw.ledger_uids() == uids(images)
    # a client whose certificate the gateway does not trust, and plain TCP, get nothing in
    bad = subprocess.run([*base, "+tls", str(stranger_key), str(stranger_crt), "+cf",
                          str(server_crt), "+sd", "+r", "127.0.0.1", str(gw.port),
                          str(images)], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert echo(gw.port, "CT01").returncode != 0
    assert len(gw.queued()) == 3
    failed = [e for e in gw.audit_events() if e["event"] == "connection_failed"]
    assert len(failed) >= 2 and all(e["address"] == "127.0.0.1" for e in failed)


def test_sigterm_stops_gracefully(start_gateway: object) -> None:
    gw = start_gateway()  # type: ignore[operator]
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=30) == 0
    assert gw.audit_events()[-1]["event"] == "gateway_stopped"


@pytest.mark.parametrize(("body", "reason"), [
    ("[gateway]\nae_title='A'\nport=104\nspool_dir='s'\naudit_log='a'\n",
     "no \\[tls\\] section: set gateway.allow_plain_tcp = true"),
    ("[gateway]\nae_title='A'\nport=104\nspool_dir='s'\naudit_log='a'\nallow_plain_tcp=true\n"
     "colour='red'\n", "gateway.colour: Extra inputs are not permitted"),
    ("[gateway]\nae_title='THIS-TITLE-IS-TOO-LONG'\nport=104\nspool_dir='s'\naudit_log='a'\n"
     "allow_plain_tcp=true\n", "gateway.ae_title: Value error, an AE title is 1 to 16"),
    ("[gateway]\nae_title='A'\nport=70000\nspool_dir='s'\naudit_log='a'\nallow_plain_tcp=true\n",
     "gateway.port: Input should be less than or equal to 65535"),
    ("[gateway]\nae_title='A'\nport=104\nspool_dir='s'\naudit_log='a'\nallow_plain_tcp=true\n"
     "[[sender]]\nae_title='CT'\naddresses=['not-an-ip']\n",
     r"sender\[1\].addresses: Value error, 'not-an-ip' is not an IP"),
    ("[gateway\n", "not valid TOML"),
    # numbers and booleans are strict: a quoted port is an error, not a guess
    ("[gateway]\nae_title='A'\nport='11112'\nspool_dir='s'\naudit_log='a'\n"
     "allow_plain_tcp=true\n", "gateway.port: Input should be a valid integer \\(it is the "
     "string '11112'; write a number without quotes\\)"),
    ("[gateway]\nae_title='A'\nport=104\nspool_dir='s'\naudit_log='a'\nallow_plain_tcp=true\n"
     "[[destination]]\nname='pacs'\nae_title='P'\nhost='127.0.0.1'\nport='104'\n"
     "allow_plain_tcp=true\n", r"destination\[1\].port: Input should be a valid integer"),
    ("[gateway]\nae_title='A'\nport=104\nspool_dir='s'\naudit_log='a'\n"
     "allow_plain_tcp='yes'\n", "gateway.allow_plain_tcp: Input should be a valid boolean "
     "\\(it is the string 'yes'; write true or false without quotes\\)"),
])
def test_a_bad_configuration_names_the_key_and_the_problem(tmp_path: Path, body: str,
                                                           reason: str) -> None:
    cfg = tmp_path / "g.toml"
    cfg.write_text(body)
    with pytest.raises(ConfigError, match=reason):
        load_config(cfg)


def test_the_inventory_learns_each_machines_sender_from_the_gateway(
        start_gateway: object, tmp_path: Path) -> None:
    import time

    from pacsguard.inventory.machines import list_machines
    from pacsguard.inventory.passive import sync
    from pacsguard.workspace import Workspace

    gw = start_gateway()  # type: ignore[operator]
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 3)
    assert storescu(gw.port, images).returncode == 0
    ledger, _, _ = Workspace(gw.home).open_ledger()
    try:
        deadline = time.monotonic() + 20  # receipts are flushed every 2 s
        machine = None
        while time.monotonic() < deadline:
            sync(ledger.engine)
            machine = next(iter(list_machines(ledger.engine)), None)
            if machine is not None and machine.calling_aet:
                break
            time.sleep(0.5)
        assert machine is not None and machine.model == "Optima CT660"
        assert (machine.calling_aet, machine.address) == ("CT01", "127.0.0.1")
    finally:
        ledger.engine.dispose()


def test_connections_beyond_the_cap_are_closed_and_audited(start_gateway: object) -> None:
    """Anyone who can reach the port could otherwise hold a thread per connection: past 64
    open connections (those still negotiating count), a new one is closed at once."""
    import socket
    import time

    from pacsguard.gateway.receiver import Receiver

    gw = start_gateway()  # type: ignore[operator]
    idle = [socket.create_connection(("127.0.0.1", gw.port), timeout=5)
            for _ in range(Receiver.MAX_CONNECTIONS)]
    try:
        time.sleep(0.5)  # all accepted, each waiting for its A-ASSOCIATE-RQ
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as extra:
            assert extra.recv(16) == b""  # closed by the gateway, not left waiting
        failed = [e for e in gw.audit_events() if e["event"] == "connection_failed"]
        assert any("more than 64 connections" in str(e["reason"]) for e in failed)
    finally:
        for s in idle:
            s.close()
    assert echo(gw.port, "CT01").returncode == 0  # and it serves again once they are gone


def test_an_instance_larger_than_allowed_is_refused_by_name(start_gateway: object,
                                                            tmp_path: Path) -> None:
    from pydicom import dcmread

    images = tmp_path / "modality"
    [path] = write_images(images, OPTIMA_CT, 1)
    gw = start_gateway("max_instance_bytes = 4096")  # type: ignore[operator]
    assert storescu(gw.port, images).returncode != 0
    deadline = time.monotonic() + 10  # storescu may see the abort before the event is written
    while time.monotonic() < deadline and not any(
            e["event"] == "association_closed" for e in gw.audit_events()):
        time.sleep(0.1)
    [refused] = [e for e in gw.audit_events() if e["event"] == "store_refused"]
    assert refused["sop_instance_uid"] == str(dcmread(path).SOPInstanceUID)
    assert "larger than the 4,096 bytes allowed" in str(refused["reason"])
    assert "max_instance_bytes" in str(refused["reason"])
    [closed] = [e for e in gw.audit_events() if e["event"] == "association_closed"]
    assert closed["failed"] == 1 and str(closed["ended"]).startswith("aborted")


def test_an_instance_that_is_not_dicom_is_refused_by_name(start_gateway: object) -> None:
    """pacsguard's own upper layer sends a C-STORE whose data set is not DICOM."""
    from pacsguard.dicom import pdu, ul

    gw = start_gateway()  # type: ignore[operator]
    ct, uid = "1.2.840.10008.5.1.4.1.1.2", "1.2.826.0.1.3680043.10.1.77"
    with ul.Requestor.connect("127.0.0.1", gw.port, "CT01", "PACSGUARD",
                              [pdu.Proposal(ct, ("1.2.840.10008.1.2.1",))], timeout=10) as a:
        [cx] = a.contexts.values()
        assert a.store(cx, ct, uid, b"\xff" * 64) == 0xC000
    [failed] = [e for e in gw.audit_events() if e["event"] == "store_failed"]
    assert failed["sop_instance_uid"] == uid
    assert "not readable as DICOM" in str(failed["reason"])


def test_check_config_warns_when_no_sender_is_allowed_and_still_exits_0(
        tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pacsguard.cli.main import app

    cfg = tmp_path / "g.toml"
    cfg.write_text("[gateway]\nae_title='A'\nport=11112\nspool_dir='s'\naudit_log='a'\n"
                   "allow_plain_tcp=true\n")
    r = CliRunner().invoke(app, ["gateway", "check-config", "--config", str(cfg)])
    assert r.exit_code == 0
    assert "valid" in r.stdout and "0 allowed senders" in r.stdout
    said = " ".join(r.stderr.split())
    assert "warning" in said and "no [[sender]] is allowed: the gateway will refuse every " \
        "association" in said
    cfg.write_text(cfg.read_text() + "[[sender]]\nae_title='CT01'\naddresses=['10.0.0.1']\n")
    r = CliRunner().invoke(app, ["gateway", "check-config", "--config", str(cfg)])
    assert r.exit_code == 0 and "warning" not in r.stderr
