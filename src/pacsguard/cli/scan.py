"""``pacsguard scan PATH...``: weaponised DICOM files (issue #5 §3). Parses, calls, prints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pacsguard.cli.common import console, err_console, friendly
from pacsguard.cli.output import check_format, emit, relative
from pacsguard.errors import PacsguardError
from pacsguard.files import default_workers
from pacsguard.findings import Finding, Severity, exit_status
from pacsguard.scan import RULES, ScanResult, Skipped, Unreadable, disarm_file, scan_paths

COLUMNS = [("severity", "severity"), ("id", "id"), ("subject", "file"),
           ("evidence", "evidence"), ("title", "title"), ("remediation", "remediation")]
TABLE_COLUMNS = ["severity", "id", "subject", "evidence"]
MAX_TABLE_ROWS = 200


def _disarm(result: ScanResult, out_dir: Path, fmt: str) -> str | None:
    """Disarm one file; the error message when that failed, else None."""
    try:
        record = disarm_file(result.subject, out_dir)
    except PacsguardError as exc:
        return str(exc)
    note = f"disarmed {result.subject} -> {record.disarmed_path}"
    if record.remaining:
        note += f" (still: {', '.join(record.remaining)})"
    target = err_console if fmt == "json" else console
    target.print(escape(note), highlight=False)
    return None


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
    rows: list[dict[str, Any]] = []
    worst_each: list[Finding] = []
    files = clean = unreadable = disarmed = skipped = 0
    by_severity = dict.fromkeys((s.label for s in Severity), 0)
    for item in scan_paths(paths, skip=disarm,
                           workers=workers if workers is not None else default_workers()):
        if isinstance(item, Skipped):  # said, never silent
            skipped += 1
            err_console.print(f"skipped {escape(item.subject)}: {escape(item.why)}",
                              highlight=False)
            continue
        if isinstance(item, Unreadable):
            unreadable += 1
            err_console.print(f"[bold red]error:[/] {escape(item.message)}", highlight=False)
            continue
        files += 1
        found = [f.as_dict() for f in item.findings]
        for f in item.findings:
            by_severity[f.severity.label] += 1
        if item.findings:
            worst_each.append(max(item.findings, key=lambda f: f.severity))
        if item.clean:
            clean += 1
        if fmt == "json":
            emit(found, COLUMNS, fmt)
        else:
            rows.extend(found)
        if disarm is not None and item.dicom and item.removals and not item.clean:
            problem = _disarm(item, disarm, fmt)
            if problem is None:
                disarmed += 1
            else:
                unreadable += 1
                err_console.print(f"[bold red]error:[/] {escape(problem)}", highlight=False)
    worst = max((f.severity for f in worst_each), default=Severity.INFO)
    summary = {"files": files, "clean": clean, "with_findings": files - clean,
               "worst": worst.label, "findings": by_severity, "unreadable": unreadable,
               "disarmed": disarmed, "skipped": skipped}
    if fmt == "json":
        err_console.print(json.dumps({"summary": summary}), highlight=False)
    elif fmt == "csv":
        emit(rows, COLUMNS, fmt)
    else:
        _print_table(rows, summary, paths)
    if unreadable:
        raise typer.Exit(2)
    status = exit_status(worst_each)
    if status:
        raise typer.Exit(status)


def _print_table(rows: list[dict[str, Any]], summary: dict[str, Any],
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
    counts = ", ".join(f"{n} {label}" for label, n in summary["findings"].items() if n)
    line = (f"{summary['files']} files scanned: {summary['clean']} clean, "
            f"{summary['with_findings']} with findings ({counts or 'none'})")
    if summary["unreadable"]:
        line += f", {summary['unreadable']} unreadable"
    if summary["disarmed"]:
        line += f", {summary['disarmed']} disarmed"
    if summary["skipped"]:
        line += f", {summary['skipped']} skipped (disarm manifest)"
    style = "green" if summary["worst"] in ("info",) and not summary["unreadable"] else "red"
    console.print(f"[{style}]{escape(line)}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_cmd)
