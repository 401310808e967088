"""verify's report, pinned byte for byte in each format and both ways it is reached (folders,
a PACS) before it moved to :mod:`pacsguard.render`: the ledger line, the findings table with
a colour per status, the count of findings not shown, the summary table and the verdict, in
colour on a terminal; JSON lines of findings and the summary line. The demo prints the same
report."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsguard.app.verify import FolderVerification, PacsVerification
from pacsguard.cli.integrity import MAX_TABLE_ROWS, _render_folders, _render_pacs
from pacsguard.integrity.audit import IntegrityReport
from pacsguard.integrity.status import Discrepancy, Status
from pacsguard.integrity.verify import VerifyReport
from tests.cli.terminal import assert_pinned, terminal

ROOT = Path("/archive")
TRUSTED = IntegrityReport(size=12, checkpoint_size=10, checkpoint_ok=True, uncovered=2)
TAMPERED = IntegrityReport(size=12, checkpoint_size=12, checkpoint_ok=False,
                           problems=["leaf 3: the stored row no longer matches its hash",
                                     "root differs from the signed checkpoint"])
FINDINGS = (
    Discrepancy(Status.LEDGER_TAMPERED, "", "(ledger)", "leaf 3 rewritten"),
    Discrepancy(Status.PIXELS_ALTERED, "1.2.826.0.1.3680043.2.1125.1.1",
                "/archive/CT/IM0001.dcm", "/archive/CT/IM0001.dcm: pixel data differs from "
                "the recorded image (decoded digest), while the header is as recorded"),
    Discrepancy(Status.HEADER_ALTERED, "1.2.3.4", "/archive/MR/Größe 1.dcm",
                "InstitutionName changed"),
    Discrepancy(Status.UNRECORDED, "1.2.3.5", "/elsewhere/x.dcm", "not in the ledger"),
    Discrepancy(Status.NEEDS_REVIEW, "1.2.3.6", "/archive/US/a.dcm", "transfer syntax "
                "changed to JPEG Baseline (Process 1) [lossy]"),
)
COUNTS = {Status.INTACT: 40, Status.PIXELS_ALTERED: 1, Status.HEADER_ALTERED: 1,
          Status.UNRECORDED: 1, Status.NEEDS_REVIEW: 1, Status.LEDGER_TAMPERED: 1}


def _folders(integrity: IntegrityReport, counts: dict[Status, int],
             findings: tuple[Discrepancy, ...]) -> FolderVerification:
    return FolderVerification(VerifyReport(integrity, counts, files=45, bytes=1 << 20),
                              iter(findings))


@pytest.mark.parametrize("wide", [False, True])
def test_the_folder_report_on_a_terminal_is_as_pinned(monkeypatch: pytest.MonkeyPatch,
                                                      wide: bool) -> None:
    t = terminal(monkeypatch)
    _render_folders(_folders(TAMPERED, COUNTS, FINDINGS), [ROOT], "table", wide)
    assert_pinned(f"verify-folders{'-wide' if wide else ''}.ans", t.out())
    assert t.err() == ""


def test_an_intact_folder_report_on_a_terminal_is_as_pinned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    t = terminal(monkeypatch)
    _render_folders(_folders(TRUSTED, {Status.INTACT: 45}, ()), [ROOT], "table", False)
    assert_pinned("verify-intact.ans", t.out())


def test_a_report_with_more_findings_than_the_table_shows_says_how_many_more(
        monkeypatch: pytest.MonkeyPatch) -> None:
    many = tuple(Discrepancy(Status.MISSING, f"1.2.{i}", f"/archive/{i}.dcm", "not found")
                 for i in range(MAX_TABLE_ROWS + 3))
    t = terminal(monkeypatch, width=60)
    _render_folders(_folders(TRUSTED, {Status.MISSING: len(many)}, many), [ROOT], "table",
                    False)
    assert_pinned("verify-more.ans", t.out())


def test_the_folder_report_in_json_is_as_pinned(capsys: pytest.CaptureFixture[str]) -> None:
    _render_folders(_folders(TAMPERED, COUNTS, FINDINGS), [ROOT], "json", False)
    out = capsys.readouterr().out
    assert "\\u00f6" in out  # not UTF-8: ASCII, as json.dumps writes by default
    assert_pinned("verify-folders.jsonl", out)


PACS = PacsVerification(VerifyReport(TRUSTED, {Status.INTACT: 3, Status.MISSING: 1,
                                               Status.CORRUPTED: 1}),
                        (FINDINGS[1], Discrepancy(Status.MISSING, "1.2.9", "(pacs)", "gone")),
                        "pacs1", listed=4, missing=1, retrieved=3, sample=None, seed=7)


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_the_pacs_report_is_as_pinned(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    t = terminal(monkeypatch)
    _render_pacs(PACS, fmt, wide=False)
    assert_pinned(f"verify-pacs.{'ans' if fmt == 'table' else 'jsonl'}",
                  t.out() if fmt == "table" else capsys.readouterr().out)
