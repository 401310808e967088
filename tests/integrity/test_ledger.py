"""Specification of the signed, append-only ledger (pacsguard.integrity.ledger + record).

Every test runs on both backends: the default SQLite file in the data directory, and a fresh
database on the real PostgreSQL server that tests/conftest.py starts.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import Engine, delete, select, update
from typer.testing import CliRunner

from pacsguard.cli.main import app
from pacsguard.errors import CheckpointError, LedgerError, ProofError
from pacsguard.integrity import merkle
from pacsguard.integrity.checkpoint import Verifier
from pacsguard.integrity.entry import LedgerEntry
from pacsguard.integrity.fingerprint import (
    Equipment,
    Fingerprint,
    complete_decoded,
    fingerprint_file,
)
from pacsguard.integrity.ledger import Ledger, PendingEntry
from pacsguard.integrity.profile import HeaderProfile
from pacsguard.integrity.record import Outcome, RecordResult, record
from pacsguard.store.engine import open_engine
from pacsguard.store.schema import entries, merkle_nodes
from pacsguard.workspace import Workspace
from tests.attacks import roll_back_ledger

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "pacsguard" / "demo" / "samples"
N_SAMPLE_FILES = len(list(SAMPLES.rglob("*.dcm")))  # ctbrain1 and ctbrain2 share one UID


@dataclasses.dataclass
class Opened:
    ws: Workspace
    ledger: Ledger
    profile: HeaderProfile
    attr_key: bytes | None
    backend: str

    def record(self, *roots: Path, **kw: object) -> list[RecordResult]:
        return list(record(self.ledger, self.profile, self.attr_key, list(roots), workers=1,
                           **kw))  # type: ignore[arg-type]

    def raw_engine(self) -> Engine:
        return open_engine(self.ws.settings()["database_url"])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def ws(backend: str, data_dir: Path, request: pytest.FixtureRequest) -> Workspace:
    ws = Workspace(data_dir)
    if backend == "postgresql":
        ws.init(database_url=request.getfixturevalue("postgres_url"),
                origin="test.pacsguard.local/ledger")
    else:
        ws.init(origin="test.pacsguard.local/ledger")
    return ws


@pytest.fixture
def opened(ws: Workspace, backend: str) -> Iterator[Opened]:
    ledger, profile, attr_key = ws.open_ledger()
    yield Opened(ws, ledger, profile, attr_key, backend)
    ledger.engine.dispose()


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A copy of every sample DICOM file, one folder per source."""
    dest = tmp_path / "archive"
    for src in SAMPLES.rglob("*.dcm"):
        (dest / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest / src.parent.name / src.name)
    return dest


def by_name(results: list[RecordResult]) -> dict[str, RecordResult]:
    return {Path(r.path).name: r for r in results}


def sign(o: Opened) -> str:
    note = o.ledger.sign_checkpoint()
    o.ws.save_checkpoint_copy(note)
    return note


def truncate_ledger(o: Opened, keep: int) -> None:
    """What an insider would do to roll the ledger back: delete the newest rows."""
    roll_back_ledger(o.ws.settings()["database_url"], keep)


# ---------------------------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------------------------


def test_init_creates_private_key_files_and_a_private_data_directory(ws: Workspace) -> None:
    assert stat.S_IMODE(ws.data_dir.stat().st_mode) == 0o700
    for secret in (ws.key_path, ws.attr_key_path, ws.config_path):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600, secret
    assert len(ws.attr_key_path.read_bytes()) == 32
    assert ws.pub_path.read_text().startswith("test.pacsguard.local/ledger+")
    assert b"PRIVATE KEY" in ws.key_path.read_bytes()


def test_init_twice_keeps_the_keys(ws: Workspace) -> None:
    key, attr = ws.key_path.read_bytes(), ws.attr_key_path.read_bytes()
    done = ws.init()
    assert not any("created" in line for line in done)
    assert (ws.key_path.read_bytes(), ws.attr_key_path.read_bytes()) == (key, attr)


def test_a_fresh_ledger_is_empty(opened: Opened) -> None:
    assert opened.ledger.size() == 0
    assert opened.ledger.root(0) == merkle.EMPTY_ROOT
    assert opened.ledger.latest_checkpoint() is None


# ---------------------------------------------------------------------------------------------
# record
# ---------------------------------------------------------------------------------------------


def test_record_appends_each_instance_once_and_reports_the_same_uid_again_as_changed(
    opened: Opened, archive: Path
) -> None:
    results = opened.record(archive)

    assert len(results) == N_SAMPLE_FILES
    named = by_name(results)
    assert named["ctbrain1.dcm"].outcome is Outcome.RECORDED
    assert named["ctbrain2.dcm"].outcome is Outcome.CHANGED
    assert named["ctbrain2.dcm"].sop_instance_uid == named["ctbrain1.dcm"].sop_instance_uid
    assert named["ctbrain2.dcm"].leaf_index is None
    recorded = [r for r in results if r.outcome is Outcome.RECORDED]
    assert len(recorded) == N_SAMPLE_FILES - 1
    assert sorted(r.leaf_index for r in recorded) == list(range(N_SAMPLE_FILES - 1))
    assert len({r.sop_instance_uid for r in recorded}) == len(recorded)
    assert opened.ledger.size() == N_SAMPLE_FILES - 1
    current = opened.ledger.current([r.sop_instance_uid for r in recorded])
    for r in recorded:
        stored = current[r.sop_instance_uid]
        assert stored.leaf_index == r.leaf_index
        assert stored.path == r.path
        assert stored.entry.kind == "record"
        # what record stores: the fingerprint with the decoded digests it adds by default
        expected, _ = complete_decoded(
            fingerprint_file(Path(r.path), opened.profile, opened.attr_key), Path(r.path),
            opened.profile)
        assert stored.entry.fingerprint == dataclasses.replace(
            expected, clinical_attrs=())  # attribute digests stay out of the leaf


def test_record_twice_appends_nothing(opened: Opened, archive: Path) -> None:
    opened.record(archive)
    size, root = opened.ledger.size(), opened.ledger.root(opened.ledger.size())

    again = opened.record(archive)

    assert opened.ledger.size() == size
    assert opened.ledger.root(size) == root
    outcomes = {Path(r.path).name: r.outcome for r in again}
    assert outcomes.pop("ctbrain2.dcm") is Outcome.CHANGED
    assert set(outcomes.values()) == {Outcome.UNCHANGED}


def test_record_of_a_changed_file_reports_it_and_records_nothing(
    opened: Opened, archive: Path
) -> None:
    opened.record(archive)
    size = opened.ledger.size()
    path = archive / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm"
    ds = dcmread(path)
    ds.StationName = "ELSEWHERE"
    ds.save_as(path)

    (result,) = opened.record(path)

    assert result.outcome is Outcome.CHANGED
    assert result.detail.startswith("header_altered")
    assert "--accept-changes" in result.detail
    assert opened.ledger.size() == size


def test_accepted_change_is_recorded_as_a_supersede_entry_naming_the_old_leaf(
    opened: Opened, archive: Path
) -> None:
    first = by_name(opened.record(archive))
    old = first["MR-SIEMENS-DICOM-WithOverlays.dcm"]
    path = Path(old.path)
    ds = dcmread(path)
    ds.PatientID = "CORRECTED-ID"
    ds.save_as(path)
    size = opened.ledger.size()

    (result,) = opened.record(path, accept_changes=True, reason="ticket 42: wrong patient")

    assert result.outcome is Outcome.SUPERSEDED
    assert result.leaf_index == size
    assert opened.ledger.size() == size + 1
    stored = opened.ledger.current([old.sop_instance_uid])[old.sop_instance_uid]
    assert stored.leaf_index == size
    assert stored.entry.kind == "supersede"
    assert stored.entry.supersedes == old.leaf_index
    assert stored.entry.reason == "ticket 42: wrong patient"
    assert stored.entry.fingerprint.file_sha256 == fingerprint_file(path).file_sha256
    (again,) = opened.record(path)
    assert again.outcome is Outcome.UNCHANGED


def test_accept_changes_without_a_reason_is_refused(opened: Opened, archive: Path) -> None:
    with pytest.raises(LedgerError, match="--reason"):
        opened.record(archive, accept_changes=True, reason="   ")
    assert opened.ledger.size() == 0


def test_unreadable_file_is_reported_and_not_recorded(opened: Opened, tmp_path: Path) -> None:
    junk = tmp_path / "in" / "junk.dcm"
    junk.parent.mkdir()
    junk.write_bytes(b"not an image")

    (result,) = opened.record(junk.parent)

    assert result.outcome is Outcome.UNREADABLE
    assert str(junk) in result.detail
    assert opened.ledger.size() == 0


# ---------------------------------------------------------------------------------------------
# checkpoints and proofs
# ---------------------------------------------------------------------------------------------


def test_signed_checkpoint_verifies_with_the_verifier_key_the_cli_prints(
    opened: Opened, archive: Path
) -> None:
    opened.record(archive)
    note = sign(opened)
    printed = CliRunner().invoke(app, ["ledger", "key", "--data-dir", str(opened.ws.data_dir)])
    assert printed.exit_code == 0, printed.output

    cp = Verifier.from_key(printed.stdout.strip()).verify(
        note, expected_origin="test.pacsguard.local/ledger")

    assert cp.tree_size == opened.ledger.size()
    assert cp.root_hash == opened.ledger.root(cp.tree_size)
    forged = note.replace(f"\n{cp.tree_size}\n", f"\n{cp.tree_size + 1}\n")
    with pytest.raises(CheckpointError):
        Verifier.from_key(printed.stdout.strip()).verify(forged)


def test_signing_twice_without_appends_returns_the_same_checkpoint(
    opened: Opened, archive: Path
) -> None:
    opened.record(archive)
    assert sign(opened) == sign(opened)


def test_inclusion_proof_verifies_against_the_checkpoint_root(
    opened: Opened, archive: Path
) -> None:
    named = by_name(opened.record(archive))
    sign(opened)
    target = named["RGB_IMAGE.dcm"]

    proof = opened.ledger.prove(target.sop_instance_uid)

    doc = json.loads(proof.to_json())
    assert set(doc) == {"leaf_index", "tree_size", "leaf_b64", "inclusion_path", "checkpoint"}
    assert doc["leaf_index"] == target.leaf_index
    assert doc["tree_size"] == opened.ledger.size()
    cp = opened.ledger.verifier.verify(doc["checkpoint"])
    import base64

    leaf = base64.b64decode(doc["leaf_b64"])
    path = [bytes.fromhex(h) for h in doc["inclusion_path"]]
    merkle.verify_inclusion(merkle.hash_leaf(leaf), doc["leaf_index"], doc["tree_size"], path,
                            cp.root_hash)
    assert LedgerEntry.decode(leaf).fingerprint.sop_instance_uid == target.sop_instance_uid
    assert LedgerEntry.decode(leaf).fingerprint.file_sha256 == fingerprint_file(
        Path(target.path)).file_sha256
    with pytest.raises(ProofError):
        merkle.verify_inclusion(merkle.hash_leaf(leaf + b"x"), doc["leaf_index"],
                                doc["tree_size"], path, cp.root_hash)


def test_prove_of_an_unknown_uid_or_before_any_checkpoint_is_an_error(
    opened: Opened, archive: Path
) -> None:
    named = by_name(opened.record(archive))
    with pytest.raises(CheckpointError, match="no signed checkpoint"):
        opened.ledger.prove(named["RGB_IMAGE.dcm"].sop_instance_uid)
    sign(opened)
    with pytest.raises(LedgerError, match="not in the ledger"):
        opened.ledger.prove("1.2.3.4.5.6.7.8.9")


def prove_cli(o: Opened, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["ledger", "prove", *args, "--data-dir", str(o.ws.data_dir)],
                           env={"COLUMNS": "1000"})
    assert "Traceback" not in r.output
    return r.exit_code, r.stdout, " ".join(r.stderr.split())


def test_prove_of_an_instance_recorded_after_the_latest_checkpoint_says_so_and_sign_proves_it(
    opened: Opened, archive: Path
) -> None:
    opened.record(archive / "deid-data")
    covered = sign(opened)
    named = by_name(opened.record(archive))
    late = named["MR-SIEMENS-DICOM-WithOverlays.dcm"]
    m = opened.ledger.verifier.verify(covered).tree_size
    assert late.leaf_index is not None and late.leaf_index >= m

    with pytest.raises(CheckpointError, match=rf"is recorded \(leaf {late.leaf_index}\) but "
                       rf"not yet covered by a signed checkpoint: the latest covers {m} "
                       "entries"):
        opened.ledger.prove(late.sop_instance_uid)
    code, _, err = prove_cli(opened, late.sop_instance_uid)
    assert code == 2
    assert f"'pacsguard ledger prove {late.sop_instance_uid} --sign'" in err

    code, out, err = prove_cli(opened, late.sop_instance_uid, "--sign")

    assert code == 0, err
    doc = json.loads(out)
    assert (doc["leaf_index"], doc["tree_size"]) == (late.leaf_index, opened.ledger.size())
    assert opened.ws.checkpoint_copy.read_text() == doc["checkpoint"]
    cp = opened.ledger.verifier.verify(doc["checkpoint"])
    merkle.verify_inclusion(merkle.hash_leaf(base64.b64decode(doc["leaf_b64"])),
                            doc["leaf_index"], doc["tree_size"],
                            [bytes.fromhex(h) for h in doc["inclusion_path"]], cp.root_hash)


def test_prove_sign_without_the_signing_key_on_this_machine_says_where_to_sign(
    opened: Opened, archive: Path
) -> None:
    (first, *_) = opened.record(archive / "deid-data")
    opened.ws.key_path.unlink()

    code, out, err = prove_cli(opened, first.sop_instance_uid, "--sign")

    assert (code, out) == (2, "")
    assert f"the ledger's signing key {opened.ws.key_path} is not on this machine" in err
    code, _, err = prove_cli(opened, first.sop_instance_uid)
    assert code == 2
    assert "recorded (leaf 0) but not yet covered by a signed checkpoint: the ledger has no " \
        "signed checkpoint yet" in err


# ---------------------------------------------------------------------------------------------
# audit against a witnessed checkpoint
# ---------------------------------------------------------------------------------------------


def _record_in_two_rounds(o: Opened, archive: Path) -> str:
    """Record the deid-data folder, sign (the witnessed note), then record the rest."""
    o.record(archive / "deid-data")
    witnessed = sign(o)
    o.record(archive)
    sign(o)
    return witnessed


def test_audit_passes_when_the_ledger_only_grew(opened: Opened, archive: Path) -> None:
    witnessed = _record_in_two_rounds(opened, archive)
    old = opened.ledger.verifier.verify(witnessed)
    assert 0 < old.tree_size < opened.ledger.size()

    lines = opened.ledger.audit(witnessed)

    assert any("verifies" in line for line in lines)
    assert opened.ledger.audit(opened.ledger.sign_checkpoint())


def test_audit_fails_after_the_newest_entries_are_deleted(opened: Opened, archive: Path) -> None:
    opened.record(archive / "deid-data")
    sign(opened)
    opened.record(archive)
    witnessed = sign(opened)
    old_size = opened.ledger.size()
    truncate_ledger(opened, old_size - 3)

    with pytest.raises(CheckpointError, match="ROLLED BACK"):
        opened.ledger.audit(witnessed)


def test_audit_fails_after_an_early_entry_and_all_its_tree_nodes_are_rewritten(
    opened: Opened, archive: Path
) -> None:
    witnessed = _record_in_two_rounds(opened, archive)
    engine = opened.raw_engine()
    with engine.begin() as conn:
        rows = conn.execute(select(entries.c.leaf_index, entries.c.entry)
                            .order_by(entries.c.leaf_index)).all()
        forged = LedgerEntry.decode(bytes(rows[0][1]))
        fake_fp = dataclasses.replace(forged.fingerprint, file_sha256=b"\x01" * 32)
        forged_raw = dataclasses.replace(forged, fingerprint=fake_fp).encode()
        conn.execute(update(entries).where(entries.c.leaf_index == 0).values(
            entry=forged_raw, leaf_hash=merkle.hash_leaf(forged_raw)))
        tree = merkle.MemoryTree()
        for idx, raw in rows:
            tree.append(forged_raw if idx == 0 else bytes(raw))
        conn.execute(delete(merkle_nodes))
        conn.execute(merkle_nodes.insert(), [{"level": lv, "idx": i, "hash": h}
                                             for (lv, i), h in tree.nodes().items() if lv])
    engine.dispose()

    with pytest.raises(ProofError, match="REWRITTEN"):
        opened.ledger.audit(witnessed)
    report = opened.ledger.check_integrity()
    assert not report.ok


def _rewrite_entry(o: Opened, leaf: int, with_leaf_hash: bool) -> str:
    """What an insider with database access does: change one entry's bytes in place (here its
    manufacturer), and maybe its stored leaf hash with it; the tree nodes are left alone.
    Returns the entry's SOP Instance UID."""
    engine = o.raw_engine()
    with engine.begin() as conn:
        raw = conn.execute(select(entries.c.entry).where(entries.c.leaf_index == leaf)
                           ).scalar_one()
        e = LedgerEntry.decode(bytes(raw))
        edited = dataclasses.replace(e, fingerprint=dataclasses.replace(
            e.fingerprint, equipment=Equipment(manufacturer="NOBODY"))).encode()
        values: dict[str, bytes] = {"entry": edited}
        if with_leaf_hash:
            values["leaf_hash"] = merkle.hash_leaf(edited)
        conn.execute(update(entries).where(entries.c.leaf_index == leaf).values(**values))
    engine.dispose()
    return e.fingerprint.sop_instance_uid


def audit_cli(o: Opened, note: str, tmp_path: Path) -> tuple[int, str]:
    witness = tmp_path / "witness.checkpoint"
    witness.write_text(note)
    r = CliRunner().invoke(app, ["ledger", "audit", "--checkpoint", str(witness), "--data-dir",
                                 str(o.ws.data_dir)], env={"COLUMNS": "1000"})
    assert "Traceback" not in r.output
    return r.exit_code, " ".join((r.stdout + r.stderr).split())


def test_audit_fails_naming_the_entry_whose_bytes_were_rewritten_under_its_leaf_hash(
    opened: Opened, archive: Path, tmp_path: Path
) -> None:
    witnessed = _record_in_two_rounds(opened, archive)
    assert audit_cli(opened, witnessed, tmp_path)[0] == 0
    uid = _rewrite_entry(opened, 2, with_leaf_hash=False)

    with pytest.raises(ProofError, match=rf"leaf 2 \(SOP Instance UID {uid}\) no longer hashes"):
        opened.ledger.audit(witnessed)
    code, out = audit_cli(opened, witnessed, tmp_path)
    assert code == 2
    assert f"ledger REWRITTEN: the entry at leaf 2 (SOP Instance UID {uid})" in out
    assert "OK" not in out


def test_audit_names_the_leaves_under_the_tree_node_an_entry_rewritten_with_its_hash_breaks(
    opened: Opened, archive: Path, tmp_path: Path
) -> None:
    witnessed = _record_in_two_rounds(opened, archive)
    leaf_4 = next(opened.ledger.iter_entries(start=4))[0].key_fields[0]
    _rewrite_entry(opened, 5, with_leaf_hash=True)

    with pytest.raises(ProofError, match=rf"leaves 4–5 \(the first: SOP Instance UID "
                       rf"{leaf_4}\)") as exc:
        opened.ledger.audit(witnessed)
    assert "level 1, index 2" in str(exc.value)
    code, out = audit_cli(opened, witnessed, tmp_path)
    assert code == 2
    assert "ledger REWRITTEN: leaves 4–5" in out


def test_audit_fails_when_a_leaf_row_is_deleted_from_the_middle(
    opened: Opened, archive: Path
) -> None:
    witnessed = _record_in_two_rounds(opened, archive)
    engine = opened.raw_engine()
    with engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.leaf_index == 3))
    engine.dispose()

    with pytest.raises(CheckpointError, match="leaf 3 is missing"):
        opened.ledger.audit(witnessed)


def test_audit_rejects_a_checkpoint_signed_by_another_ledger(
    opened: Opened, archive: Path, tmp_path: Path
) -> None:
    opened.record(archive / "deid-data")
    other = Workspace(tmp_path / "other")
    other.init(origin="test.pacsguard.local/ledger")
    ledger2, _, _ = other.open_ledger()
    note = ledger2.sign_checkpoint()
    ledger2.engine.dispose()
    with pytest.raises(CheckpointError):
        opened.ledger.audit(note)


def test_check_integrity_names_a_row_edited_after_signing(opened: Opened, archive: Path) -> None:
    opened.record(archive)
    sign(opened)
    assert opened.ledger.check_integrity().ok
    engine = opened.raw_engine()
    with engine.begin() as conn:
        raw = conn.execute(select(entries.c.entry).where(entries.c.leaf_index == 2)).scalar_one()
        e = LedgerEntry.decode(bytes(raw))
        edited = dataclasses.replace(e, fingerprint=dataclasses.replace(
            e.fingerprint, equipment=Equipment(manufacturer="NOBODY")))
        conn.execute(update(entries).where(entries.c.leaf_index == 2)
                     .values(entry=edited.encode()))
    engine.dispose()

    report = opened.ledger.check_integrity()

    assert not report.ok
    assert report.tampered_leaves == [2]


# ---------------------------------------------------------------------------------------------
# many appends
# ---------------------------------------------------------------------------------------------


def _synthetic_entry(n: int) -> LedgerEntry:
    d = n.to_bytes(32, "big")
    fp = Fingerprint(
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2", sop_instance_uid=f"2.25.{n}",
        study_instance_uid="2.25.1", series_instance_uid="2.25.2",
        transfer_syntax="1.2.840.10008.1.2.1", file_size=1000 + n, file_sha256=d,
        pixel_sha256=d, decoded_pixel_sha256=d, header_sha256=d, clinical_sha256=d,
        header_profile="hp1-test", equipment=Equipment(modality="CT"),
    )
    return LedgerEntry(fp, "2026-11-27T21:00:00Z")


def test_three_thousand_entries_appended_in_batches_match_an_in_memory_tree(
    opened: Opened,
) -> None:
    tree = merkle.MemoryTree()
    batches = [1, 1, 2, 7, 500, 1000, 489, 1000]
    assert sum(batches) == 3000
    n = 0
    for size in batches:
        items = [_synthetic_entry(n + k) for k in range(size)]
        indexes = opened.ledger.append([PendingEntry(e) for e in items])
        assert indexes == list(range(n, n + size))
        for e in items:
            tree.append(e.encode())
        n += size
        assert opened.ledger.root(n) == tree.root()

    assert opened.ledger.size() == 3000
    for size in (1, 2, 3, 1023, 1024, 1025, 2999):
        assert opened.ledger.root(size) == tree.root(size)
    note = opened.ledger.sign_checkpoint()
    assert opened.ledger.verifier.verify(note).root_hash == tree.root()
    proof = opened.ledger.prove("2.25.1234")
    assert list(proof.path) == tree.inclusion_proof(1234, 3000)
    assert opened.ledger.check_integrity().ok


def test_concurrent_appenders_each_get_distinct_leaves_and_one_consistent_tree(
    opened: Opened,
) -> None:
    import threading

    errors: list[BaseException] = []

    def appender(worker: int) -> None:
        ledger, _, _ = opened.ws.open_ledger()
        try:
            for batch in range(15):
                base = worker * 1000 + batch * 5
                ledger.append([PendingEntry(_synthetic_entry(base + k)) for k in range(5)])
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            ledger.engine.dispose()

    threads = [threading.Thread(target=appender, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert opened.ledger.size() == 4 * 15 * 5
    tree = merkle.MemoryTree()
    uids = []
    for stored, *_ in opened.ledger.iter_entries():
        tree.append(stored.raw)
        uids.append(stored.entry.fingerprint.sop_instance_uid)
    assert len(set(uids)) == len(uids) == 300
    assert opened.ledger.root(300) == tree.root()
    opened.ledger.sign_checkpoint()
    assert opened.ledger.check_integrity().ok


def test_init_refuses_other_settings_and_a_ledger_that_belongs_to_another_key(
    ws: Workspace, tmp_path: Path
) -> None:
    from pacsguard.errors import ConfigError

    with pytest.raises(ConfigError, match="already initialised"):
        ws.init(origin="someone.else/ledger")
    other = Workspace(tmp_path / "other")
    other.init(origin="test.pacsguard.local/ledger")
    stranger = Workspace(tmp_path / "stranger")
    stranger.data_dir.mkdir(mode=0o700)
    for name in ("ledger.key", "attr.key"):  # keys of another ledger
        shutil.copy2(other.data_dir / name, stranger.data_dir / name)
    with pytest.raises(ConfigError, match="already belongs"):
        stranger.init(database_url=ws.settings()["database_url"],
                      origin="test.pacsguard.local/ledger")


def test_the_schema_revision_the_commands_expect_is_alembics_head() -> None:
    from pacsguard.store.engine import HEAD_REVISION, alembic_head

    assert alembic_head() == HEAD_REVISION


def test_a_ledger_made_at_schema_0001_upgrades_with_every_hash_kept(
    opened: Opened, archive: Path
) -> None:
    """Revision 0002 moved leaf hashes from tree level 0 into ``entries``. A ledger made
    before it is refused until migrated, then proves, checks and appends as before."""
    from alembic import command
    from sqlalchemy import func, inspect

    from pacsguard.errors import StoreError
    from pacsguard.store.engine import _alembic_config, check_schema, migrate

    opened.record(archive / "deid-data")
    note = sign(opened)
    size = opened.ledger.size()
    uid = LedgerEntry.decode(opened.ledger.current(
        [r.sop_instance_uid for r in opened.record(archive / "deid-data")])
        .popitem()[1].raw).fingerprint.sop_instance_uid
    before = opened.ledger.prove(uid)
    opened.ledger.engine.dispose()

    engine = opened.raw_engine()
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    with engine.connect() as conn:
        assert "leaf_hash" not in {c["name"] for c in inspect(conn).get_columns("entries")}
        assert conn.execute(select(func.count()).select_from(merkle_nodes)
                            .where(merkle_nodes.c.level == 0)).scalar() == size
    with pytest.raises(StoreError, match=r"at schema 0001.*run 'pacsguard init'"):
        check_schema(engine)

    migrate(engine)
    check_schema(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(merkle_nodes)
                            .where(merkle_nodes.c.level == 0)).scalar() == 0
    engine.dispose()

    ledger, _, _ = opened.ws.open_ledger()
    try:
        assert ledger.check_integrity().ok
        assert ledger.prove(uid).to_json() == before.to_json()
        assert ledger.audit(note) is not None
        opened.ledger = ledger
        opened.record(archive)
        sign(opened)
        assert ledger.check_integrity().ok
        assert ledger.size() > size
    finally:
        ledger.engine.dispose()
