"""`pacsguard verify --pacs`: what a real Orthanc holds against the ledger, after images went
through the gateway: a deletion through Orthanc's REST API, an image altered in Orthanc's
storage folder, and an image sent around the gateway are each found."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread
from typer.testing import CliRunner, Result

from pacsguard.cli.main import app
from tests.fleet import OPTIMA_CT, SAMPLES, VUE_PACS_OLD, write_images
from tests.gateway.helpers import Gateway, destination, storescu, wait_until, waiting
from tests.peers import OrthancPeer, orthanc


def _verify(gw: Gateway, *extra: str) -> tuple[Result, dict[str, str]]:
    r = CliRunner().invoke(app, ["verify", "--pacs", "pacs", "--config",
                                 str(gw.spool.parent / "gateway.toml"), "--format", "json",
                                 *extra])
    found = {}
    for line in r.stdout.splitlines():
        f = json.loads(line)
        if "summary" not in f:  # the last line
            found[f["sop_instance_uid"]] = f["status"]
    return r, found


def _instance_id(pacs: OrthancPeer, sop: str) -> str:
    return next(str(i["ID"]) for i in pacs.rest("/instances?expand")
                if i["MainDicomTags"]["SOPInstanceUID"] == sop)


def test_verify_pacs_finds_deleted_altered_and_unrecorded_images(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    images = tmp_path / "modality"
    paths = write_images(images, OPTIMA_CT, 6)
    sops = [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths]
    # C-FIND answered from Orthanc's index alone: by default Orthanc may read the stored file
    # to answer, and then, once its cache has let the file go, not list the one altered below
    # (seen once in CI: "missing" instead of altered); this test is about the retrieval
    with orthanc(tmp_path / "orthanc", extra={"StorageAccessOnFind": "Never"}) as pacs:
        gw = start_gateway(tail=destination(pacs.port))
        assert storescu(gw.port, images).returncode == 0
        assert wait_until(lambda: waiting(gw) == 0 and pacs.count() == 6)

        r, found = _verify(gw)
        assert r.exit_code == 0, r.output
        assert found == dict.fromkeys(sops, "intact")

        # 1. deleted through the REST API
        pacs.rest(f"/instances/{_instance_id(pacs, sops[0])}", method="DELETE")
        # 2. altered in Orthanc's storage folder (same length: pixel bytes flipped)
        uuid = pacs.rest(f"/instances/{_instance_id(pacs, sops[1])}/attachments/dicom/info"
                         )["Uuid"]
        stored = tmp_path / "orthanc" / "orthanc-db" / uuid[:2] / uuid[2:4] / uuid
        data = bytearray(stored.read_bytes())
        for i in range(len(data) - 400, len(data) - 200):
            data[i] ^= 0x5A
        stored.write_bytes(bytes(data))
        # 3. sent straight to the PACS, around the gateway
        stray = tmp_path / "stray"
        [stray_path] = write_images(stray, VUE_PACS_OLD, 1, seed=99)
        stray_sop = str(dcmread(stray_path, stop_before_pixels=True).SOPInstanceUID)
        sent = subprocess.run([shutil.which("storescu") or "storescu", "-aec", "ORTHANC",
                               "127.0.0.1", str(pacs.port), str(stray_path)],
                              capture_output=True, env={**os.environ, "TCP_NODELAY": "1"})
        assert sent.returncode == 0

        r, found = _verify(gw)
        assert r.exit_code == 1
        assert found[sops[0]] == "missing"
        assert found[sops[1]] in ("pixels_altered", "corrupted")
        assert found[stray_sop] == "unrecorded"
        assert [found[s] for s in sops[2:]] == ["intact"] * 4
        # the summary counts what the PACS listed (5 recorded and the stray) and what it lacks
        assert json.loads(r.stdout.splitlines()[-1])["listed"] == 6
        table = CliRunner().invoke(app, ["verify", "--pacs", "pacs", "--config",
                                         str(gw.spool.parent / "gateway.toml")])
        assert table.exit_code == 1
        assert "3 findings in 6 listed by the PACS, 1 missing (5 retrieved)" in \
            " ".join(table.output.split())

        # a sample: lists still compared whole, only some retrieved; the seed is printed
        r, found = _verify(gw, "--sample", "50%", "--seed", "7")
        assert found[sops[0]] == "missing" and found[stray_sop] == "unrecorded"
        retrieved = [s for s in sops[1:] if s in found]
        assert 1 <= len(retrieved) <= 3
        assert "with seed 7" in r.stderr


def test_verify_pacs_refuses_an_unknown_destination(start_gateway: Callable[..., Gateway],
                                                    tmp_path: Path) -> None:
    gw = start_gateway()
    r = CliRunner().invoke(app, ["verify", "--pacs", "nowhere", "--config",
                                 str(gw.spool.parent / "gateway.toml")])
    assert r.exit_code == 2 and "has no [[destination]] with that name" in r.output


J2K = SAMPLES / "pydicom-data" / "MR2_J2KI.dcm"  # JPEG 2000 (1.2.840.10008.1.2.4.91)


def test_a_jpeg2000_image_stored_through_the_gateway_is_retrieved_as_it_was_recorded(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    """Orthanc 1.10 cannot transcode JPEG 2000: it returns the image only when the C-GET
    proposes the transfer syntax the image was recorded in."""
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 3)
    shutil.copy(J2K, images / "MR2_J2KI.dcm")
    j2k_sop = str(dcmread(J2K, stop_before_pixels=True).SOPInstanceUID)
    with orthanc(tmp_path / "orthanc") as pacs:
        gw = start_gateway(tail=destination(pacs.port))
        sent = storescu(gw.port, images, as_they_are=True)  # the profile of docs/gateway.md
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert wait_until(lambda: waiting(gw) == 0 and pacs.count() == 4)
        meta = pacs.rest(f"/instances/{_instance_id(pacs, j2k_sop)}/header?simplify")
        assert meta["TransferSyntaxUID"] == "1.2.840.10008.1.2.4.91"  # forwarded as received
        r, found = _verify(gw)
    assert found[j2k_sop] == "intact", r.output
    assert r.exit_code == 0 and set(found.values()) == {"intact"}


def test_an_image_the_pacs_cannot_return_is_corrupted_and_the_finding_says_why(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    """Orthanc restarted so that it no longer takes JPEG 2000 (and cannot convert it: no
    codec) still lists the image; the finding names what was proposed, what Orthanc accepted
    and what its C-GET answered."""
    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 2)
    shutil.copy(J2K, images / "MR2_J2KI.dcm")
    j2k_sop = str(dcmread(J2K, stop_before_pixels=True).SOPInstanceUID)
    with orthanc(tmp_path / "orthanc") as pacs:
        gw = start_gateway(tail=destination(pacs.port))
        assert storescu(gw.port, images, as_they_are=True).returncode == 0
        assert wait_until(lambda: waiting(gw) == 0 and pacs.count() == 3)
        port = pacs.port
    with orthanc(tmp_path / "orthanc", port=port,
                 extra={"Jpeg2000TransferSyntaxAccepted": False}):
        r, found = _verify(gw)
    assert r.exit_code == 1
    assert found[j2k_sop] == "corrupted"
    assert list(found.values()).count("intact") == 2
    [detail] = [json.loads(x)["detail"] for x in r.stdout.splitlines()
                if json.loads(x).get("sop_instance_uid") == j2k_sop]
    assert "not returned by C-GET" in detail
    assert "MR Image Storage was proposed in JPEG 2000 Image Compression " \
           "(1.2.840.10008.1.2.4.91), the transfer syntax it was recorded in" in detail
    assert "the PACS refused JPEG 2000 Image Compression and accepted Explicit VR Little " \
           "Endian" in detail
    assert "its C-GET answered status 0x" in detail and "1 failed" in detail, detail


def test_a_pacs_that_dies_during_retrieval_is_an_error_not_corrupted_images(
        start_gateway: Callable[..., Gateway], tmp_path: Path) -> None:
    """Orthanc is killed (SIGKILL) as the first image arrives: the association ends, a new
    one cannot be opened, and verify --pacs stops with an error naming what happened instead
    of reporting the images it could not ask for as corrupted."""
    import signal

    import pytest

    from pacsguard.errors import PacsguardError
    from pacsguard.gateway.config import load_config
    from pacsguard.gateway.pacs import Scope, verify_pacs
    from pacsguard.workspace import Workspace

    images = tmp_path / "modality"
    write_images(images, OPTIMA_CT, 6)
    with orthanc(tmp_path / "orthanc") as pacs:
        gw = start_gateway(tail=destination(pacs.port))
        assert storescu(gw.port, images).returncode == 0
        assert wait_until(lambda: waiting(gw) == 0 and pacs.count() == 6)
        pid = int((tmp_path / "orthanc" / "peer.pid").read_text())
        cfg = load_config(gw.spool.parent / "gateway.toml")
        ledger, profile, key = Workspace(gw.home).open_ledger(read_only=True)

        def kill_the_pacs(n: int, size: int) -> None:
            if n == 1:
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(PacsguardError, match="ended during a C-GET") as raised:
            verify_pacs(ledger, profile, key, cfg.destination[0], "PACSGUARD", Scope(),
                        kill_the_pacs)
    assert "after 1 instances were checked" in str(raised.value)
    assert "a new one failed" in str(raised.value)
    assert "run verify --pacs again" in str(raised.value)
