"""Specification of the record use case (pacsguard.app.record): plain arguments in, a frozen
summary out, what the operator must see and the progress through callbacks, nothing printed."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pydicom import dcmread

from pacsguard.app.record import RecordSummary, record_folders
from pacsguard.integrity.checkpoint import Verifier
from pacsguard.integrity.record import Outcome, RecordResult
from pacsguard.workspace import Workspace
from tests.app.helpers import ORIGIN, new_workspace, small_archive


def covered(ws: Workspace, note: str) -> int:
    """The tree size a signed note covers, its signature checked with the ledger's key."""
    verifier = Verifier.from_key(ws.pub_path.read_text().strip())
    return verifier.verify(note, expected_origin=ORIGIN).tree_size


def test_record_returns_a_frozen_summary_signs_a_checkpoint_and_prints_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = new_workspace(tmp_path / "home")
    files = small_archive(tmp_path / "archive")
    progress: list[tuple[int, int]] = []
    notices: list[RecordResult] = []

    summary = record_folders(ws, [tmp_path / "archive"], workers=1,
                             on_progress=lambda n, b: progress.append((n, b)),
                             on_notice=notices.append)

    size = sum(p.stat().st_size for p in files)
    assert summary.counts == {Outcome.RECORDED: len(files)}
    assert (summary.files, summary.bytes, summary.ok) == (len(files), size, True)
    assert summary.checkpoint == ws.checkpoint_copy.read_text()
    assert covered(ws, summary.checkpoint) == len(files)
    assert progress[0] == (0, 0) and progress[-1] == (len(files), size)
    assert [n for n, _ in progress] == list(range(len(files) + 1))
    assert notices == []
    assert capsys.readouterr() == ("", "")
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.bytes = 0  # type: ignore[misc]


def test_record_tells_of_changed_and_unreadable_files_as_they_happen_and_signs_nothing_new(
        tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "home")
    archive = tmp_path / "archive"
    files = small_archive(archive)
    first = record_folders(ws, [archive], workers=1)
    changed = files[1]
    ds = dcmread(changed)
    ds.PatientID = "OTHER0001"
    ds.save_as(changed)
    (archive / "notes.dcm").write_text("not DICOM")
    notices: list[RecordResult] = []

    again: RecordSummary = record_folders(ws, [archive], workers=1, on_notice=notices.append)

    assert dict(again.counts) == {Outcome.UNCHANGED: len(files) - 1, Outcome.CHANGED: 1,
                                  Outcome.UNREADABLE: 1}
    assert {(r.outcome, Path(r.path).name) for r in notices} == {
        (Outcome.CHANGED, changed.name), (Outcome.UNREADABLE, "notes.dcm")}
    assert not again.ok
    assert again.checkpoint is None  # nothing appended, nothing signed
    assert ws.checkpoint_copy.read_text() == first.checkpoint


class Stop(Exception):
    """Raised by a progress callback to interrupt a run."""


def test_an_interrupted_record_signs_a_checkpoint_of_what_it_committed(tmp_path: Path) -> None:
    ws = new_workspace(tmp_path / "home")
    small_archive(tmp_path / "archive")

    def stop_after_two(files: int, _bytes: int) -> None:
        if files == 2:
            raise Stop

    with pytest.raises(Stop):
        record_folders(ws, [tmp_path / "archive"], workers=1, commit_every=1,
                       on_progress=stop_after_two)

    # each file is committed before its result is reported: two entries, and a checkpoint
    ledger, _, _ = ws.open_ledger(read_only=True)
    try:
        assert ledger.size() == 2
    finally:
        ledger.engine.dispose()
    assert covered(ws, ws.checkpoint_copy.read_text()) == 2
