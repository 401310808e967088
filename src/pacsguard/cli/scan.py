"""``pacsguard scan PATH...``: weaponised DICOM files (issue #5 §3). Parses, calls
:mod:`pacsguard.app.scan`, renders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pacsguard.app import scan
from pacsguard.app.scan import DisarmedCopy, DisarmFailed, ScanEvent, ScanSummary
from pacsguard.cli.common import console, err_console, friendly
from pacsguard.cli.output import check_format, emit
from pacsguard.findings import Severity
from pacsguard.render.cells import relative
from pacsguard.scan import RULES, Skipped, Unreadable

COLUMNS = [("severity", "severity"), ("id", "id"), ("subject", "file"),
           ("evidence", "evidence"), ("title", "title"), ("remediation", "remediation")]
TABLE_COLUMNS = ["severity", "id", "subject", "evidence"]
MAX_TABLE_ROWS = 200


@friendly
def scan_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (any depth).")],
    output_format: Annotated[str, typer.Option(
        "--format", help="table, json (one finding per line; summary on stderr) or csv")
    ] = "table",
    disarm: Annotated[Path | None, typer.Option(
        "--disarm", metavar="OUT_DIR", help="Write a disarmed copy of each file with "
        "something to remove (preamble zeroed, active content zeroed, trailing bytes cut) "
        "into OUT_DIR as <sha256>.dcm, and record it in OUT_DIR/manifest.jsonl. Originals "
        "are never modified.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes (default: every core).")] = None,
) -> None:
    """Scan DICOM files for weaponised content: executable preambles (CVE-2019-11687),
    payloads hidden in elements, active content in encapsulated PDF/CDA, structural abuse.
    Exit status: 0 nothing above info, 3/4/5/6 worst finding low/medium/high/critical,
    2 an error (a file could not be read: no verdict)."""
    fmt = check_format(output_format)
    rows: list[dict[str, Any]] = []  # table and CSV: every finding, shown at the end

    def show(event: ScanEvent) -> None:
        if isinstance(event, Skipped):  # said, never silent
            _render_skipped(event)
        elif isinstance(event, Unreadable | DisarmFailed):
            _render_error(event.message)
        elif isinstance(event, DisarmedCopy):
            _render_disarmed(event, fmt)
        elif fmt == "json":
            emit([f.as_dict() for f in event.findings], COLUMNS, fmt)
        else:
            rows.extend(f.as_dict() for f in event.findings)

    summary = scan.run(paths, disarm_to=disarm, workers=workers, on_event=show)
    if fmt == "json":
        err_console.print(json.dumps({"summary": _summary(summary)}), highlight=False)
    elif fmt == "csv":
        emit(rows, COLUMNS, fmt)
    else:
        _render_table(rows, summary, paths)
    if summary.exit_status:
        raise typer.Exit(summary.exit_status)


def _summary(summary: ScanSummary) -> dict[str, Any]:
    """The summary as ``--format json`` writes it on stderr."""
    return {"files": summary.files, "clean": summary.clean,
            "with_findings": summary.with_findings, "worst": summary.worst.label,
            "findings": {s.label: n for s, n in summary.findings},
            "unreadable": summary.unreadable, "disarmed": summary.disarmed,
            "skipped": summary.skipped}


def _render_skipped(item: Skipped) -> None:
    err_console.print(f"skipped {escape(item.subject)}: {escape(item.why)}", highlight=False)


def _render_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def _render_disarmed(copy: DisarmedCopy, fmt: str) -> None:
    note = f"disarmed {copy.result.subject} -> {copy.record.disarmed_path}"
    if copy.record.remaining:
        note += f" (still: {', '.join(copy.record.remaining)})"
    target = err_console if fmt == "json" else console
    target.print(escape(note), highlight=False)


def _render_table(rows: list[dict[str, Any]], summary: ScanSummary,
                  roots: list[Path]) -> None:
    if rows:
        order = {s.label: s.value for s in Severity}
        rows.sort(key=lambda r: (-order[r["severity"]], r["subject"], r["id"]))
        shown = [r | {"subject": relative(r["subject"], roots)} for r in rows[:MAX_TABLE_ROWS]]
        emit(shown, COLUMNS, "table", title="Findings", table_columns=TABLE_COLUMNS)
        if len(rows) > MAX_TABLE_ROWS:
            console.print(f"... and {len(rows) - MAX_TABLE_ROWS} more findings (the worst are "
                          "shown above); use --format json for all of them")
        console.print("What to do:")
        for rule_id in dict.fromkeys(r["id"] for r in rows[:MAX_TABLE_ROWS]):
            console.print(f"  {rule_id}: {escape(RULES[rule_id].remediation)}", highlight=False)
    counts = ", ".join(f"{n} {s.label}" for s, n in summary.findings if n)
    line = (f"{summary.files} files scanned: {summary.clean} clean, "
            f"{summary.with_findings} with findings ({counts or 'none'})")
    if summary.unreadable:
        line += f", {summary.unreadable} unreadable"
    if summary.disarmed:
        line += f", {summary.disarmed} disarmed"
    if summary.skipped:
        line += f", {summary.skipped} skipped (disarm manifest)"
    style = "green" if summary.worst is Severity.INFO and not summary.unreadable else "red"
    console.print(f"[{style}]{escape(line)}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_cmd)
