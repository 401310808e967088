"""What a report shows, whatever the format: results in, a :class:`~.interface.Document` or
the rows of a listing out. The table format prints a document on a terminal; a web page will
render the same document as HTML. Only what is shown is decided here (which lines, which
colour says what); what the results are is decided in the domain and :mod:`pacsguard.app`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pacsguard.integrity.status import Discrepancy, Status
from pacsguard.integrity.verify import VerifyReport
from pacsguard.render.cells import relative
from pacsguard.render.interface import Block, Column, Document, Line, Listing

#: The colour of each verify status; any other is bold red.
STATUS_STYLE = {Status.INTACT: "green", Status.HEADER_ALTERED: "yellow",
                Status.DUPLICATE: "yellow", Status.NEEDS_REVIEW: "yellow",
                Status.UNRECORDED: "magenta"}


def status_style(status: Status) -> str:
    return STATUS_STYLE.get(status, "bold red")


def verify_report(report: VerifyReport, findings: Sequence[Discrepancy],
                  roots: Sequence[Path] = (), more: int = 0, wide: bool = False,
                  counted: str | None = None) -> Document:
    """verify's report: whether the ledger is trusted, the findings (the worst first; ``more``
    counts those not shown), the count per status and the verdict. ``counted`` says what was
    verified (default: the number of files). The findings fit 80 columns (status, file, why);
    ``wide`` adds the SOP Instance UID."""
    ig = report.integrity
    blocks: list[Block] = []
    if ig.ok:
        blocks.append(Line.of(("ledger trusted", "green"), f": {ig.size} entries re-hashed; "
                              f"they match the signed checkpoint of {ig.checkpoint_size} "
                              "entries" + (f" ({ig.uncovered} newer entries not yet signed)"
                                           if ig.uncovered else ""), highlight=True))
    else:
        blocks.append(Line.of((" LEDGER TAMPERED ", "bold white on red"), " the ledger does "
                              "not match its signed checkpoint; results below cannot be fully "
                              "trusted", highlight=True))
        blocks += [Line.of("  ", ("•", "red"), f" {p}") for p in ig.problems]
    if findings:
        columns = [Column("status", "status", overflow="ellipsis"), Column("file", "file"),
                   *([Column("sop_instance_uid", "SOP Instance UID")] if wide else []),
                   Column("why", "why")]
        rows = [{"status": f.status.value, "file": relative(f.path, roots),
                 "sop_instance_uid": f.sop_instance_uid,
                 "why": f.detail.removeprefix(f.path + ": ")} for f in findings]
        blocks.append(Listing.of(rows, columns, "Findings",
                                 styles=[{"status": status_style(f.status)} for f in findings]))
        if more:
            blocks.append(Line.of(f"… and {more} more findings (the worst are shown above); "
                                  "use --format json for all of them", highlight=True))
    shown = [s for s in Status if report.counts.get(s, 0) or s is Status.INTACT]
    blocks.append(Listing.of(
        [{"status": s.value, "instances": str(report.counts.get(s, 0))} for s in shown],
        [Column("status", "status", overflow="ellipsis"),
         Column("instances", "instances", justify="right", overflow="ellipsis")], "Summary",
        styles=[{"status": status_style(s)} for s in shown]))
    what = counted or f"{report.files} files"
    if report.ok:
        blocks.append(Line.of(("ALL INTACT", "bold green"), f": {what} verified",
                              highlight=True))
    else:
        blocks.append(Line.of(("PROBLEMS FOUND", "bold red"),
                              f": {report.not_intact} findings in {what}", highlight=True))
    return Document(tuple(blocks))


def verify_summary(report: VerifyReport, **more: Any) -> dict[str, Any]:
    """The last line of verify's JSON lines: the only one with "summary" (a finding has
    "status"); ``more``: what a PACS verification adds."""
    return {"summary": {s.value: n for s, n in report.counts.items()},
            "ledger_trusted": report.integrity.ok, **more}
