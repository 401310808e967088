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
from tests.fleet import OPTIMA_CT, VUE_PACS_OLD, write_images
from tests.gateway.conftest import Gateway, storescu
from tests.gateway.test_forward import _destination, _wait, _waiting
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
    with orthanc(tmp_path / "orthanc") as pacs:
        gw = start_gateway(tail=_destination(pacs.port))
        assert storescu(gw.port, images).returncode == 0
        assert _wait(lambda: _waiting(gw) == 0 and pacs.count() == 6)

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
