"""``pacsguard patch status`` and ``pacsguard report``: what is open, overdue and how risky."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from pacsguard.cli.common import DataDir, console, friendly, workspace
from pacsguard.cli.inventory import Format, NoSync, synced_engine
from pacsguard.cli.output import Wide, check_format, emit
from pacsguard.errors import ConfigError

patch_app = typer.Typer(help="Patch status of the imaging equipment.", no_args_is_help=True)

OverdueDays = Annotated[int, typer.Option(min=0, help="An advisory without a decision is "
                                          "overdue this many days after publication.")]
Today = Annotated[str, typer.Option(help="Judge as of this date (YYYY-MM-DD; default today).")]


def _today(text: str) -> dt.date:
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--today {text!r} is not a date (YYYY-MM-DD)") from None


@patch_app.command("status", short_help="Per machine: open and overdue advisories, risk score.")
@friendly
def status_cmd(data_dir: DataDir = None, output_format: Format = "table",
               overdue_days: OverdueDays = 30, today: Today = "", no_sync: NoSync = False,
               wide: Wide = False) -> None:
    """Per machine: current version against the fixes advisories name, days open without a
    decision, overdue items, passed end-of-support dates, and the NHS 5x5 risk score."""
    from pacsguard.reports.status import patch_status

    check_format(output_format)
    statuses = patch_status(synced_engine(data_dir, no_sync), _today(today), overdue_days)
    rows = []
    for s in statuses:
        live = [i for i in s.items if i.state != "closed"]
        rows.append({
            "machine_id": s.machine.id, "machine": s.machine.label,
            "software_versions": s.machine.software_versions,
            "open": len(live), "overdue": len(s.overdue),
            "oldest_days_open": max((i.days_open or 0 for i in live), default=None),
            "fixes": sorted({f for i in live for f in i.match.fixes}),
            "advisories": [f"{i.match.tracking_id} {i.match.status.value} ({i.state}: "
                           f"{i.why})" for i in s.items],
            "ended": s.ended, "risk_score": s.risk.score, "risk": s.risk.rating,
            "likelihood": s.risk.likelihood, "consequence": s.risk.consequence,
            "risk_reasoning": s.risk.reasoning,
        })
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
    from pacsguard.render.html import governance_page
    from pacsguard.reports.governance import governance_report
    from pacsguard.reports.status import patch_status

    day = _today(today)
    ws = workspace(data_dir)
    engine = synced_engine(data_dir, no_sync)
    html = governance_page(governance_report(patch_status(engine, day, overdue_days),
                                             ws.settings().get("origin", ""), day, overdue_days))
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
