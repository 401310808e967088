"""Start-up recovery of the spool (docs/gateway.md): a file the ledger holds may have been
acknowledged and is queued; anything else in ``tmp/`` (unrecorded, half-written, or an empty
file made ahead) was never acknowledged and is removed."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread

from pacsguard.gateway.audit import AuditLog
from pacsguard.gateway.config import load_config
from pacsguard.gateway.receiver import Receiver
from pacsguard.integrity.fingerprint import fingerprint_file
from pacsguard.workspace import Workspace
from tests.fleet import OPTIMA_CT, write_images
from tests.gateway.helpers import gateway_config


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
        rc._record(fingerprint_file(tmp, rc.profile, rc.attr_key), tmp.read_bytes(), "CT01",
                       "127.0.0.1")
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


def test_recovery_keeps_an_instance_received_again_from_another_sender(tmp_path: Path) -> None:
    """The same instance from a second sender: other File Meta (so another file SHA-256),
    same content, so nothing new was appended, yet it was acknowledged; a crash before it
    was queued must not lose it."""
    from pacsguard.dicom import part10

    rc = _receiver(tmp_path)
    [image] = write_images(tmp_path / "img", OPTIMA_CT, 1)
    raw = image.read_bytes()
    ds = dcmread(image)
    data_set = raw[part10.data_set_offset(raw):]
    first = rc.spool.write_tmp(part10.file_meta(ds.SOPClassUID, ds.SOPInstanceUID,
                                                ds.file_meta.TransferSyntaxUID, "CT01") + data_set)
    rc._record(fingerprint_file(first, rc.profile, rc.attr_key), first.read_bytes(), "CT01",
               "127.0.0.1")
    first.unlink()
    again = rc.spool.write_tmp(part10.file_meta(ds.SOPClassUID, ds.SOPInstanceUID,
                                                ds.file_meta.TransferSyntaxUID, "CT02") + data_set)
    rc._record(fingerprint_file(again, rc.profile, rc.attr_key), again.read_bytes(), "CT02",
               "127.0.0.1")
    assert len(list(rc.ledger.iter_entries())) == 1  # nothing new appended

    assert rc.recover() == (1, 0)
    assert [dcmread(p).SOPInstanceUID for p in rc.spool.held.iterdir()] == [ds.SOPInstanceUID]


def test_a_store_with_an_invalid_uid_fails_cleanly(tmp_path: Path) -> None:
    from pacsguard.dicom import pdu, ul
    from pacsguard.dicom.status import Dimse

    rc = _receiver(tmp_path)
    rq = ul.AssociationRequest("CT01", "PACSGUARD", "127.0.0.1", 5000, "", "")
    for uid in ("1.2.\u00e9", "1." * 40 + "1", ""):
        msg = pdu.Message(pdu.Context(1, "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1"),
                         {0x0002: b"1.2.840.10008.5.1.4.1.1.2", 0x1000: uid.encode(),
                          0x0100: b"\x01\x00", 0x0110: b"\x01\x00"}, b"\x08\x00")
        assert rc._store(rq, msg) == Dimse.CANNOT_UNDERSTAND
    assert rc.spool.pending == 0 and list(rc.spool.tmp.iterdir()) == []
