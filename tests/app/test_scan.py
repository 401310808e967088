"""The scan use case: what ``pacsguard scan`` and the dashboard get back from scanning a folder,
with and without disarming, as typed events and a summary (no output of its own)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsguard.app import scan
from pacsguard.app.scan import DisarmedCopy, DisarmFailed, ScanEvent, ScanSummary
from pacsguard.errors import ConfigError, PacsguardError
from pacsguard.findings import Severity
from pacsguard.scan import ScanResult, Skipped, Unreadable
from tests.scan.polyglots import archive, clean_file


def run(paths: list[Path], disarm_to: Path | None = None
        ) -> tuple[ScanSummary, list[ScanEvent]]:
    events: list[ScanEvent] = []
    summary = scan.run(paths, disarm_to=disarm_to, workers=1, on_event=events.append)
    return summary, events


def test_the_summary_counts_files_clean_ones_and_findings_and_names_the_worst(
        tmp_path: Path) -> None:
    summary, events = run([archive(tmp_path)])
    assert (summary.files, summary.clean, summary.with_findings) == (4, 2, 2)
    assert summary.worst is Severity.CRITICAL and summary.exit_status == 6
    counts = dict(summary.findings)
    assert list(counts) == list(Severity)  # every severity, info first, even at 0
    assert counts[Severity.CRITICAL] == 1 and counts[Severity.INFO] == 1  # PE; NOT-DICOM
    assert counts[Severity.HIGH] >= 1 and counts[Severity.LOW] == 0
    assert (summary.unreadable, summary.disarmed, summary.skipped) == (0, 0, 0)
    found = sum(len(e.findings) for e in events if isinstance(e, ScanResult))
    assert found == sum(counts.values())


def test_each_file_is_handed_over_as_it_is_scanned_in_sorted_order(tmp_path: Path) -> None:
    root = archive(tmp_path)
    _, events = run([root])
    assert all(isinstance(e, ScanResult) for e in events)
    names = [Path(e.subject).relative_to(root).as_posix() for e in events
             if isinstance(e, ScanResult)]
    assert names == ["README.txt", "report.dcm", "series/IM1.dcm", "series/IM2.dcm"]


def test_clean_files_exit_0_and_the_worst_is_info(tmp_path: Path) -> None:
    (tmp_path / "IM1.dcm").write_bytes(clean_file())
    summary, _ = run([tmp_path])
    assert summary == ScanSummary(1, 1, Severity.INFO, tuple((s, 0) for s in Severity), 0, 0, 0)
    assert summary.exit_status == 0


def test_disarm_writes_a_copy_of_each_file_with_something_to_remove_after_its_scan(
        tmp_path: Path) -> None:
    root = archive(tmp_path / "archive")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    out = root / "disarmed"  # inside the scanned folder: not scanned
    summary, events = run([root], disarm_to=out)
    copies = [e for e in events if isinstance(e, DisarmedCopy)]
    assert sorted(Path(c.result.subject).name for c in copies) == ["IM2.dcm", "report.dcm"]
    for copy in copies:  # each copy follows the scan of its original
        assert events[events.index(copy) - 1] is copy.result
        assert Path(copy.record.disarmed_path).parent == out.resolve()
        assert copy.record.remaining == ()
    assert {p: p.read_bytes() for p in before} == before  # originals untouched
    assert summary.disarmed == 2 and summary.files == 4 and summary.exit_status == 6
    again, events = run([out])  # the copies are clean; the manifest is skipped, and said
    assert (again.files, again.clean, again.skipped, again.exit_status) == (2, 2, 1, 0)
    assert isinstance(events[-1], Skipped) and events[-1].subject.endswith("manifest.jsonl")


def test_a_copy_that_cannot_be_written_is_an_event_and_leaves_no_verdict(
        tmp_path: Path) -> None:
    root = archive(tmp_path / "archive")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    summary, events = run([root], disarm_to=blocker / "disarmed")
    failed = [e for e in events if isinstance(e, DisarmFailed)]
    assert len(failed) == 2 and summary.unreadable == 2 and summary.disarmed == 0
    assert all("cannot write the disarmed copy there" in f.message for f in failed)
    assert summary.files == 4 and summary.exit_status == 2  # no verdict: an error


def test_a_file_that_cannot_be_read_is_an_event_the_others_are_still_scanned(
        tmp_path: Path) -> None:
    for name in ("a.dcm", "b.dcm", "c.dcm"):
        (tmp_path / name).write_bytes(clean_file())
    events: list[ScanEvent] = []

    def on_event(event: ScanEvent) -> None:
        events.append(event)
        (tmp_path / "b.dcm").unlink(missing_ok=True)  # listed, gone before it is read

    summary = scan.run([tmp_path], workers=1, on_event=on_event)
    assert isinstance(events[1], Unreadable) and "b.dcm: cannot be opened" in events[1].message
    assert (summary.files, summary.unreadable, summary.exit_status) == (2, 1, 2)


def test_a_root_that_does_not_exist_or_holds_no_file_is_an_error_naming_it(
        tmp_path: Path) -> None:
    with pytest.raises(PacsguardError, match="nowhere: no such file or folder"):
        scan.run([tmp_path / "nowhere"], workers=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty: a folder with no files"):
        scan.run([tmp_path / "empty"], workers=1)
