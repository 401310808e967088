"""The gateway forwards to a real Orthanc on 127.0.0.1: everything arrives, a PACS outage
only delays, an undeliverable instance becomes a dead letter, and `gateway status` says so."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from typer.testing import CliRunner

from pacsguard.cli.main import app
from tests.fleet import OPTIMA_CT, SAMPLES, write_images
from tests.gateway.helpers import Gateway, destination, storescu, uids, wait_until, waiting
from tests.peers import free_port, orthanc


def _status(gw: Gateway) -> dict[str, object]:
    r = CliRunner().invoke(app, ["gateway", "status", "--config",
                                 str(gw.spool.parent / "gateway.toml"), "--format", "json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout.splitlines()[0])  # type: ignore[no-any-return]


def test_images_reach_orthanc_and_the_spool_drains(start_gateway: Callable[..., Gateway],
                                                   tmp_path: Path) -> None:
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 10)
    with orthanc(tmp_path / "orthanc") as pacs:
        gw = start_gateway(tail=destination(pacs.port))
        r = storescu(gw.port, images)
        assert r.returncode == 0, r.stdout + r.stderr
        assert wait_until(lambda: waiting(gw) == 0 and pacs.count() == 10)
        assert gw.ledger_uids() == uids(images)
        st = _status(gw)
        assert st["depth"] == 0 and st["dead_letters"] == 0
        assert wait_until(lambda: _status(gw)["sent"] == 10, 10)


def test_a_pacs_outage_only_delays_nothing_is_lost_or_doubled(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 8)
    port = free_port()
    gw = start_gateway(tail=destination(port))
    assert storescu(gw.port, images).returncode == 0  # acknowledged while the PACS is down
    assert waiting(gw) == 8
    assert wait_until(lambda: int(str(_status(gw)["failures"])) > 0, 20)
    assert _status(gw)["depth"] == 8 and _status(gw)["last_error"]
    with orthanc(tmp_path / "orthanc", port=port) as pacs:
        assert wait_until(lambda: waiting(gw) == 0 and pacs.count() == 8)
    assert len(gw.ledger_uids()) == 8
    ledger_rows = sum(1 for e in gw.audit_events() if e["event"] == "dead_letter")
    assert ledger_rows == 0


def test_an_instance_the_pacs_keeps_refusing_becomes_a_dead_letter(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    """A PACS that accepts the association but answers every C-STORE with a failure (a real
    pynetdicom SCP answering 0xA900); an outage (refused association) alone never
    dead-letters (see the outage test)."""
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    port = free_port()
    scp = AE(ae_title="REFUSER")
    for cx in AllStoragePresentationContexts:
        if cx.abstract_syntax is not None:
            scp.add_supported_context(cx.abstract_syntax)
    server = scp.start_server(("127.0.0.1", port), block=False,
                              evt_handlers=[(evt.EVT_C_STORE, lambda event: 0xA900)])
    try:
        images = tmp_path / "modality"
        write_images(images, OPTIMA_CT, 2)
        gw = start_gateway(tail=destination(port, ae="REFUSER", extra="max_attempts = 2\n"))
        assert storescu(gw.port, images).returncode == 0
        assert wait_until(lambda: len(list((gw.spool / "dead" / "pacs").iterdir())) == 2, 60)
    finally:
        server.shutdown()
    dead = [e for e in gw.audit_events() if e["event"] == "dead_letter"]
    assert len(dead) == 2 and "status 0xA900" in str(dead[0]["reason"])
    st = _status(gw)
    assert st["depth"] == 0 and st["dead_letters"] == 2


def test_a_refused_association_backs_off_without_dead_letters(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 2)
    with orthanc(tmp_path / "orthanc") as pacs:
        gw = start_gateway(tail=destination(pacs.port, ae="WRONG-AE", extra="max_attempts = 2\n"))
        assert storescu(gw.port, images).returncode == 0
        assert wait_until(lambda: int(str(_status(gw)["failures"])) >= 4, 30)
        assert "refused the association" in str(_status(gw)["last_error"])
        assert waiting(gw) == 2 and not list((gw.spool / "dead" / "pacs").iterdir())


def test_forwarding_over_dicom_tls_to_a_tls_only_peer(start_gateway: Callable[..., Gateway],
                                                      tmp_path: Path) -> None:
    """The destination speaks only TLS (dcmtk's storescp +tls); the gateway verifies its
    certificate against the configured CA and delivers."""
    from tests.peers import make_tls_pair, storescp

    key, cert = make_tls_pair(tmp_path / "pacs-tls")
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 4)
    with storescp(tmp_path / "scp", aet="TLSPACS", tls=(key, cert)) as port:
        gw = start_gateway(tail=(
            f'\n[[destination]]\nname = "pacs"\nae_title = "TLSPACS"\nhost = "127.0.0.1"\n'
            f"port = {port}\nbackoff_min_seconds = 0.2\nbackoff_max_seconds = 1\n"
            f"[destination.tls]\nca = '{cert}'\n"))
        assert storescu(gw.port, images).returncode == 0
        received = tmp_path / "scp" / "received"
        assert wait_until(lambda: waiting(gw) == 0 and len(list(received.iterdir())) == 4, 60)


J2K = SAMPLES / "pydicom-data" / "MR2_J2KI.dcm"  # JPEG 2000 (1.2.840.10008.1.2.4.91)
J2K_REFUSED = ("the destination refused SOP class MR Image Storage (1.2.840.10008.5.1.4.1.1.4) "
               "in transfer syntax JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91): "
               "transfer syntaxes not supported (provider rejection)")


def _dead_reasons(gw: Gateway) -> list[str]:
    return [str(e["reason"]) for e in gw.audit_events() if e["event"] == "dead_letter"]


def test_a_jpeg2000_image_the_destination_refuses_is_a_dead_letter_naming_the_syntax(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    """dcmtk's storescp without +xa takes only uncompressed images: it accepts the CT slices'
    context and refuses the JPEG 2000 one. The CT slices are delivered; the JPEG 2000 image
    becomes a dead letter whose reason names the transfer syntax refused."""
    from tests.peers import storescp

    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 2)
    shutil.copy(J2K, images / "MR2_J2KI.dcm")
    with storescp(tmp_path / "scp") as port:
        gw = start_gateway(tail=destination(port, ae="STORESCP", extra="max_attempts = 2\n"))
        assert storescu(gw.port, images, as_they_are=True).returncode == 0
        received = tmp_path / "scp" / "received"
        assert wait_until(lambda: len(list(received.iterdir())) == 2 and waiting(gw) == 0, 60)
    assert _dead_reasons(gw) == [J2K_REFUSED]
    assert J2K_REFUSED in str(_status(gw)["last_error"])


def test_an_association_whose_every_context_is_refused_counts_attempts_and_names_the_syntax(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    """Only the JPEG 2000 image is queued: storescp answers A-ASSOCIATE-AC accepting no
    context. That is a refusal of the image, not an outage: it ends in a dead letter."""
    from tests.peers import storescp

    images = tmp_path / "modality"
    images.mkdir()
    shutil.copy(J2K, images / "MR2_J2KI.dcm")
    with storescp(tmp_path / "scp") as port:
        gw = start_gateway(tail=destination(port, ae="STORESCP", extra="max_attempts = 2\n"))
        assert storescu(gw.port, images, as_they_are=True).returncode == 0
        assert wait_until(lambda: len(list((gw.spool / "dead" / "pacs").iterdir())) == 1, 60)
    assert _dead_reasons(gw) == [J2K_REFUSED]
    failed = [e for e in gw.audit_events() if e["event"] == "forward_failed"]
    assert [e["reason"] for e in failed] == [J2K_REFUSED]  # the first attempt of two
    # both name the instance (a UID, not patient data)
    sop = str(dcmread(J2K, stop_before_pixels=True).SOPInstanceUID)
    assert [e["sop_instance_uid"] for e in gw.audit_events()
            if e["event"] in ("forward_failed", "dead_letter")] == [sop, sop]
