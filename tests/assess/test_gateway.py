"""pacsguard's own gateway, configured as docs/gateway.md recommends (DICOM TLS with client
certificates, an allow-list), passes its own assessment, write and fuzz checks included; and
a gateway left on plain TCP is told so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pacsguard.assess.model import TlsClient
from pacsguard.assess.runner import assess
from pacsguard.findings import Severity
from tests.assess.targets import make_cert, options
from tests.gateway.helpers import Gateway, echo, start_gateway

__all__ = ["start_gateway"]  # the fixture, shared with tests/gateway


def test_the_gateway_with_tls_and_an_allow_list_passes_its_own_assessment(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    server = make_cert(tmp_path / "server", "gateway")
    client = make_cert(tmp_path / "client", "tester")
    gw = start_gateway(tls=f"[tls]\ncertificate = '{server.cert}'\nprivate_key = "
                       f"'{server.key}'\nclient_ca = '{client.cert}'\n")
    a = assess(options(gw.port, tls=TlsClient(client.cert, client.key, server.cert),
                       allow_write=True, fuzz_cases=30, seed=2026,
                       reproducers=tmp_path / "repro"))
    ids = {f.id for f in a.findings}
    assert a.worst <= Severity.INFO, sorted((f.id, f.severity.label) for f in a.findings)
    assert not ids & {"ASSOC-ANY-CALLING", "ASSOC-ANY-CALLED", "STORE-ANY-CALLER",
                      "TLS-ABSENT", "TLS-PLAIN-ALONGSIDE", "TLS-NO-CLIENT-CERT",
                      "FUZZ-CRASH", "FUZZ-HANG"}
    [fuzz] = [s for s in a.sections if s.family == "fuzz"]
    assert {f.name: f.value for f in fuzz.facts}["cases"] == "30 of 30"
    assert gw.proc.poll() is None  # thirty malformed cases later, still serving
    assert gw.queued() == []  # nothing from the tester got in
    rejected = [e for e in gw.audit_events() if e["event"] == "association_rejected"]
    assert rejected, "the tester's associations were refused and audited"


def test_a_gateway_on_plain_tcp_is_told_to_use_tls(start_gateway: Callable[..., Gateway]
                                                   ) -> None:
    gw = start_gateway()
    a = assess(options(gw.port))
    ids = {f.id for f in a.findings}
    assert "TLS-ABSENT" in ids
    assert not ids & {"ASSOC-ANY-CALLING", "ASSOC-ANY-CALLED", "ASSOC-DEFAULT-CALLED"}
    assert echo(gw.port, "CT01").returncode == 0  # and its own senders still get in
