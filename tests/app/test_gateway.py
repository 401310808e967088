"""The gateway service (pacsguard/app/gateway.py): callable from any thread with a stop event,
it reports what it does as typed events, names why it cannot start, and reads the queues
whether or not a gateway runs."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from pacsguard.app import gateway
from pacsguard.errors import GatewayError, GatewayFailure
from pacsguard.gateway.spool import Spool
from pacsguard.workspace import Workspace
from tests.gateway.helpers import echo, gateway_config
from tests.peers import free_port


def _config(tmp_path: Path, port: int, tls: str = "", tail: str = "") -> Path:
    Workspace(tmp_path / "home").init(origin="gw.test/ledger")
    return gateway_config(tmp_path, port, tls=tls, tail=tail)


def test_run_serves_from_a_worker_thread_until_the_stop_event_and_says_so(
        tmp_path: Path) -> None:
    """No signal handler is needed (only a main thread may install one): the caller's event
    stops it, in order, with the last checkpoint signed and the audit log closed."""
    port = free_port()
    check = gateway.check_config(_config(tmp_path, port))
    events: list[gateway.GatewayEvent] = []
    listening = threading.Event()

    def on_event(event: gateway.GatewayEvent) -> None:
        events.append(event)
        if isinstance(event, gateway.Listening):
            listening.set()

    stop = threading.Event()
    worker = threading.Thread(target=gateway.run, args=(check.config, stop, on_event))
    worker.start()
    try:
        assert listening.wait(60), events
        assert echo(port, "CT01").returncode == 0
        assert echo(port, "NOBODY").returncode != 0  # the allow-list holds
    finally:
        stop.set()
        worker.join(60)
    assert not worker.is_alive()
    assert events == [gateway.Listening("PACSGUARD", "127.0.0.1", port, False,
                                        tmp_path / "audit.jsonl"),
                      gateway.Stopped(0)]
    audit = [json.loads(x)["event"] for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert audit[0] == "gateway_started" and audit[-1] == "gateway_stopped"
    assert "association_rejected" in audit
    assert (tmp_path / "home" / "latest-checkpoint").is_file()


def test_a_port_in_use_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        check = gateway.check_config(_config(tmp_path, port))
        with pytest.raises(GatewayError) as caught:
            gateway.run(check.config, threading.Event())
    assert caught.value.reason is GatewayFailure.CANNOT_LISTEN
    assert f"cannot listen on 127.0.0.1:{port}" in str(caught.value)


def test_a_tls_key_that_cannot_be_read_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    tls = '[tls]\ncertificate = "missing.crt"\nprivate_key = "missing.key"\n'
    check = gateway.check_config(_config(tmp_path, free_port(), tls=tls))
    assert check.tls
    with pytest.raises(GatewayError) as caught:
        gateway.run(check.config, threading.Event())
    assert caught.value.reason is GatewayFailure.TLS_CREDENTIALS
    assert "TLS certificate or key cannot be loaded" in str(caught.value)


def test_check_config_gives_the_warnings_of_a_valid_file(tmp_path: Path) -> None:
    cfg = tmp_path / "g.toml"
    cfg.write_text("[gateway]\nae_title='A'\nport=11112\nspool_dir='s'\naudit_log='a'\n"
                   "allow_plain_tcp=true\n")
    check = gateway.check_config(cfg)
    assert not check.tls and check.config.gateway.spool_dir == tmp_path / "s"
    [warning] = check.warnings
    assert warning.startswith("no [[sender]] is allowed")


def test_status_reads_queues_dead_letters_and_quarantine_without_a_running_gateway(
        tmp_path: Path) -> None:
    tail = ('[[destination]]\nname = "pacs"\nae_title = "PACS"\nhost = "127.0.0.1"\n'
            'port = 104\nallow_plain_tcp = true\n')
    check = gateway.check_config(_config(tmp_path, free_port(), tail=tail))
    spool = Spool(tmp_path / "spool", None, 0, ["pacs"])
    for name in ("1.dcm", "2.dcm"):
        spool.commit(spool.write_tmp(b"x" * 10), name)
    (spool.out("pacs") / "2.dcm").rename(spool.dead("pacs") / "2.dcm")
    spool.quarantine(spool.write_tmp(b"y"), "3.rejected")

    st = gateway.status(check.config)

    assert st.ae_title == "PACSGUARD"
    [queue] = st.queues
    assert (queue.destination, queue.depth, queue.dead_letters, queue.sent) == ("pacs", 1, 1, 0)
    assert queue.oldest_age_s is not None and queue.oldest_age_s >= 0
    assert st.dead_letters == 1 and st.dead_dir == tmp_path / "spool" / "dead"
    assert st.quarantined == 1 and st.quarantine_dir == tmp_path / "spool" / "quarantine"
