"""Specification of ``pacsguard ledger key|checkpoint|prove|audit`` (pacsguard/cli/ledger.py),
end to end, on an archive recorded by ``pacsguard record``."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from pydicom import dcmread

from pacsguard.demo.scenario import PATIENTS
from pacsguard.integrity import merkle
from pacsguard.integrity.checkpoint import Verifier
from tests.cli.helpers import ORIGIN, assert_one_clean_error_line, build, delete_newest, run


def test_ledger_key_prints_name_keyhash_and_base64_key(recorded: Path) -> None:
    r = run("ledger", "key", "--data-dir", recorded)
    assert r.exit_code == 0, r.output
    key = r.stdout.strip()
    m = re.fullmatch(r"(?P<name>[^+\s]+)\+(?P<hash>[0-9a-f]{8})\+(?P<b64>[A-Za-z0-9+/]+=*)", key)
    assert m is not None, key
    assert m["name"] == ORIGIN
    raw = base64.b64decode(m["b64"])
    assert len(raw) == 33 and raw[0] == 0x01  # Ed25519 algorithm byte + 32-byte key
    assert key == (recorded / "ledger.pub").read_text().strip()


def test_ledger_checkpoint_prints_a_signed_note(recorded: Path) -> None:
    r = run("ledger", "checkpoint", "--data-dir", recorded)
    assert r.exit_code == 0, r.output
    note = r.stdout
    lines = note.splitlines()
    assert lines[0] == ORIGIN
    assert lines[1] == "5"
    assert len(base64.b64decode(lines[2])) == 32
    sigs = [line for line in lines if line.startswith("— ")]
    assert sigs and sigs[0].startswith(f"— {ORIGIN} ")
    key = run("ledger", "key", "--data-dir", recorded).stdout.strip()
    assert Verifier.from_key(key).verify(note).tree_size == 5
    assert (recorded / "latest-checkpoint").read_text() == note


def test_ledger_prove_prints_a_json_inclusion_proof(recorded: Path, archive: Path) -> None:
    uid = str(dcmread(archive / "ct" / PATIENTS[0][0] / "slice002.dcm").SOPInstanceUID)

    r = run("ledger", "prove", "--data-dir", recorded, uid)

    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"leaf_index", "tree_size", "leaf_b64", "inclusion_path", "checkpoint"}
    assert doc["tree_size"] == 5
    cp = Verifier.from_key((recorded / "ledger.pub").read_text().strip()).verify(
        doc["checkpoint"])
    merkle.verify_inclusion(merkle.hash_leaf(base64.b64decode(doc["leaf_b64"])),
                            doc["leaf_index"], doc["tree_size"],
                            [bytes.fromhex(h) for h in doc["inclusion_path"]], cp.root_hash)
    assert_one_clean_error_line(run("ledger", "prove", "--data-dir", recorded, "1.2.3.999"),
                                "1.2.3.999")


def test_ledger_audit_passes_after_more_records_and_fails_after_a_rollback(
    recorded: Path, archive: Path, tmp_path: Path
) -> None:
    witnessed = tmp_path / "witness.note"
    witnessed.write_text(run("ledger", "checkpoint", "--data-dir", recorded).stdout)
    more = tmp_path / "more"
    build(more)
    r = run("record", "--data-dir", recorded, "--workers", "1", more)
    assert r.exit_code == 0, r.output

    r = run("ledger", "audit", "--data-dir", recorded, "--checkpoint", witnessed)
    assert r.exit_code == 0, r.output
    assert "OK" in r.stdout
    assert "witnessed checkpoint: 5 entries" in r.stdout
    assert "ledger now: 8 entries" in r.stdout  # the 3 new slices; the 2 copies are unchanged

    delete_newest(recorded, 3)
    r = run("ledger", "audit", "--data-dir", recorded, "--checkpoint", witnessed)
    assert_one_clean_error_line(r, "ROLLED BACK")
    r = run("verify", "--data-dir", recorded, "--workers", "1", archive)
    assert r.exit_code == 1
    assert "LEDGER TAMPERED" in r.stdout


def test_audit_with_a_garbage_checkpoint_file_is_one_clear_error(
    recorded: Path, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.note"
    garbage.write_text("this is not a checkpoint\n")
    assert_one_clean_error_line(run("ledger", "audit", "--data-dir", recorded, "--checkpoint",
                                    garbage), "note")
    binary = tmp_path / "binary.note"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_clean_error_line(run("ledger", "audit", "--data-dir", recorded, "--checkpoint",
                                    binary))
    assert_one_clean_error_line(run("ledger", "audit", "--data-dir", recorded, "--checkpoint",
                                    tmp_path / "absent.note"), "cannot be read")
