"""Start-up recovery of the spool (docs/gateway.md): a file the ledger holds may have been
acknowledged and is queued; anything else in ``tmp/`` (unrecorded, half-written, or an empty
file made ahead) was never acknowledged and is removed."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread

from pacsguard.gateway.config import load_config
from pacsguard.gateway.server import AuditLog, Receiver
from pacsguard.integrity.fingerprint import fingerprint_file
from pacsguard.workspace import Workspace
from tests.fleet import OPTIMA_CT, write_images
from tests.gateway.conftest import gateway_config


def _receiver(tmp_path: Path, destinations: str = "") -> Receiver:
    home = tmp_path / "home"
    Workspace(home).init(origin="gw.test/ledger")
    cfg = load_config(gateway_config(tmp_path, 11112, tail=destinations))
    ledger, profile, key = Workspace(home).open_ledger()
    return Receiver(cfg, ledger, profile, key, AuditLog(tmp_path / "audit.jsonl"))


def test_recovery_queues_recorded_files_and_removes_the_rest(tmp_path: Path) -> None:
    rc = _receiver(tmp_path, '[[destination]]\nname = "a"\nae_title = "A"\nhost = "127.0.0.1"\n'
                             'port = 104\nallow_plain_tcp = true\n'
                             '[[destination]]\nname = "b"\nae_title = "B"\nhost = "127.0.0.1"\n'
                             'port = 105\nallow_plain_tcp = true\n')
    rc.spool.prepare()  # empty files made ahead, as a running gateway keeps
    images = write_images(tmp_path / "img", OPTIMA_CT, 3)
    recorded, linked, unrecorded = (rc.spool.write_tmp(p.read_bytes()) for p in images)
    for tmp in (recorded, linked):
        rc._record(fingerprint_file(tmp, rc.profile, rc.attr_key), "CT01", "127.0.0.1")
    # a crash after the first link of `linked` and before its tmp/ name was dropped
    (rc.spool.out("a") / (linked.name.removesuffix(".part") + ".dcm")).hardlink_to(linked)
    half = rc.spool.write_tmp(images[0].read_bytes()[:3000])  # a crash mid-write

    queued, deleted = rc.recover()

    assert queued == 2
    # unrecorded, half-written, and the empty ones made ahead that no write took
    assert deleted == 2 + rc.spool.READY - 4
    assert rc.spool.ready == 0
    assert list(rc.spool.tmp.iterdir()) == []
    assert not unrecorded.exists() and not half.exists()
    for name in ("a", "b"):
        got = {str(dcmread(p).SOPInstanceUID) for p in rc.spool.out(name).iterdir()}
        assert got == {str(dcmread(p).SOPInstanceUID) for p in images[:2]}
    assert rc.spool.used == rc.spool.recount() == sum(p.stat().st_size for p in images[:2])
    events = [e for e in (tmp_path / "audit.jsonl").read_text().splitlines()
              if "spool_recovered" in e]
    assert len(events) == 1
