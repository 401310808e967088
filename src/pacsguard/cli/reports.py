"""``pacsguard patch status`` and ``pacsguard report``: what is open, overdue and how risky."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pacsguard.cli.common import DataDir, console, friendly, workspace
from pacsguard.cli.inventory import Format, NoSync, render_sync
from pacsguard.cli.output import Wide, check_format, emit
from pacsguard.errors import ConfigError

if TYPE_CHECKING:
    from pacsguard.app.patch import PatchStatus
    from pacsguard.reports.governance import GovernanceReport

patch_app = typer.Typer(help="Patch status of the imaging equipment.", no_args_is_help=True)

OverdueDays = Annotated[int, typer.Option(min=0, help="An advisory without a decision is "
                                          "overdue this many days after publication.")]
Today = Annotated[str, typer.Option(help="Judge as of this date (YYYY-MM-DD; default today).")]


@patch_app.command("status", short_help="Per machine: open and overdue advisories, risk score.")
@friendly
def status_cmd(data_dir: DataDir = None, output_format: Format = "table",
               overdue_days: OverdueDays = 30, today: Today = "", no_sync: NoSync = False,
               wide: Wide = False) -> None:
    """Per machine: current version against the fixes advisories name, days open without a
    decision, overdue items, passed end-of-support dates, and the NHS 5x5 risk score."""
    from pacsguard.app.patch import status

    check_format(output_format)
    _render_status(status(workspace(data_dir), today, overdue_days, sync=not no_sync,
                          on_sync=render_sync), output_format, wide)


def _render_status(s: PatchStatus, output_format: str, wide: bool) -> None:
    rows = [dataclasses.asdict(r) for r in s.rows]
    emit(rows, [("machine_id", "id"), ("machine", "machine"),
                ("software_versions", "software versions"), ("open", "open"),
                ("overdue", "overdue"), ("oldest_days_open", "oldest (days)"),
                ("fixes", "fixes named"), ("ended", "end of support passed"),
                ("risk_score", "risk"), ("risk", "rating"), ("risk_reasoning", "reasoning"),
                ("advisories", "advisories")],
         output_format, title=f"patch status of {len(rows)} machines",
         table_columns=["machine_id", "machine", "open", "overdue", "oldest_days_open",
                        "risk_score", "risk"],
         wide_columns=["machine_id", "machine", "software_versions", "open", "overdue",
                       "oldest_days_open", "fixes", "ended", "risk_score", "risk",
                       "risk_reasoning"], wide=wide)


@friendly
def report_cmd(
    output: Annotated[Path, typer.Argument(help="The HTML file to write.")],
    data_dir: DataDir = None, overdue_days: OverdueDays = 30, today: Today = "",
    no_sync: NoSync = False,
) -> None:
    """Write one self-contained HTML page: what each advisory hits and why, what has been
    decided, what is overdue, patch status and risk per machine."""
    from pacsguard.app.patch import report

    data = report(workspace(data_dir), today, overdue_days, sync=not no_sync,
                  on_sync=render_sync)
    _write_report(data, output)


def _write_report(data: GovernanceReport, output: Path) -> None:
    from pacsguard.render.html import governance_page

    html = governance_page(data)
    tmp = output.with_name(output.name + ".tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
    console.print(f"wrote {output} ({len(html) // 1024} kB)", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(patch_app, name="patch")
    app.command("report")(report_cmd)
