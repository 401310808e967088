"""Specification of the ledger use cases (pacsguard.app.ledger): init, the verifier key,
checkpoints, proofs and audits, called with plain arguments and returning values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from pacsguard.app.ledger import audit, init, prove, sign_checkpoint, verifier_key
from pacsguard.app.record import record_folders
from pacsguard.errors import CheckpointError, ConfigError
from pacsguard.integrity import merkle
from pacsguard.integrity.checkpoint import Verifier
from pacsguard.integrity.record import record
from pacsguard.workspace import Workspace
from tests.app.helpers import ORIGIN, new_workspace, small_archive
from tests.attacks import roll_back_ledger


def test_init_returns_what_it_did_and_the_data_directory(tmp_path: Path) -> None:
    done = init(Workspace(tmp_path / "home"), origin=ORIGIN)
    assert done.data_dir == tmp_path / "home"
    assert done.done and all(isinstance(line, str) for line in done.done)
    assert (tmp_path / "home" / "ledger.key").exists()


def test_init_with_a_header_profile_that_cannot_be_read_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.tsv: cannot be read"):
        init(Workspace(tmp_path / "home"), header_profile=tmp_path / "nowhere.tsv")
    assert not (tmp_path / "home").exists()  # refused before anything was made


def test_the_verifier_key_is_the_one_that_verifies_checkpoints(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "home")
    key = verifier_key(ws)
    assert key.startswith(ORIGIN + "+")
    note = sign_checkpoint(ws)
    assert Verifier.from_key(key).verify(note, expected_origin=ORIGIN).tree_size == 0


def test_the_verifier_key_of_a_directory_never_initialised_is_a_clear_error(
        tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a pacsguard data directory"):
        verifier_key(Workspace(tmp_path / "empty"))


def test_signing_keeps_the_copy_and_signs_again_only_when_the_ledger_grew(
        tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "home")
    first = sign_checkpoint(ws)
    assert ws.checkpoint_copy.read_text() == first
    assert sign_checkpoint(ws) == first
    small_archive(tmp_path / "archive")
    grown = record_folders(ws, [tmp_path / "archive"], workers=1).checkpoint
    assert grown is not None and sign_checkpoint(ws) == grown != first


def test_prove_signs_first_only_when_asked(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "home")
    first, second = small_archive(tmp_path / "archive", images=1)
    record_folders(ws, [first], workers=1)  # one entry, and a checkpoint of it
    ledger, profile, attr_key = ws.open_ledger()
    try:  # a second entry, appended as the gateway does: no checkpoint covers it yet
        list(record(ledger, profile, attr_key, [second], workers=1))
    finally:
        ledger.engine.dispose()
    uid = str(dcmread(second, stop_before_pixels=True).SOPInstanceUID)
    with pytest.raises(CheckpointError, match="not yet covered by a signed checkpoint"):
        prove(ws, uid)

    proof = prove(ws, uid, sign=True)

    assert (proof.leaf_index, proof.tree_size) == (1, 2)
    assert proof.checkpoint == ws.checkpoint_copy.read_text()
    root = Verifier.from_key(verifier_key(ws)).verify(proof.checkpoint, ORIGIN).root_hash
    merkle.verify_inclusion(merkle.hash_leaf(proof.leaf), 1, 2, list(proof.path), root)


def test_audit_returns_its_report_and_fails_after_a_rollback(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "home")
    files = small_archive(tmp_path / "archive")
    record_folders(ws, [tmp_path / "archive"], workers=1)
    witnessed = tmp_path / "witness" / "checkpoint"
    witnessed.parent.mkdir()
    witnessed.write_text(ws.checkpoint_copy.read_text())

    passed = audit(ws, witnessed)
    assert isinstance(passed.lines, tuple)
    assert f"witnessed checkpoint: {len(files)} entries" in passed.lines[0]

    roll_back_ledger(ws.settings()["database_url"], keep=len(files) - 1)
    with pytest.raises(CheckpointError, match="ROLLED BACK"):
        audit(ws, witnessed)


def test_audit_of_a_checkpoint_file_that_cannot_be_read_names_the_file(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "home")
    with pytest.raises(ConfigError, match=r"kept\.note: cannot be read"):
        audit(ws, tmp_path / "kept.note")
