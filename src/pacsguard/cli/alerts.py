"""``pacsguard alerts``: import advisories and see which machines they hit."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pacsguard.cli.common import DataDir, console, err_console, friendly, workspace
from pacsguard.cli.inventory import Format, NoSync, render_sync
from pacsguard.cli.output import Wide, check_format, emit
from pacsguard.errors import ConfigError

if TYPE_CHECKING:
    from pacsguard.advisories.decisions import Decision
    from pacsguard.advisories.store import AdvisorySummary, ImportResult
    from pacsguard.app.alerts import ImportSummary, MatchResults, Reviewed, Trail

# The application layer, and with it the advisory modules (jsonschema, univers, cvss), is
# imported inside the commands: every other pacsguard command starts faster without them.

app = typer.Typer(help="Security advisories (CSAF 2.0, simple alerts) and the machines they "
                  "hit.", no_args_is_help=True)


@app.command("import", short_help="Validate and import advisories (CSAF 2.0, simple alerts).")
@friendly
def import_cmd(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="CSAF 2.0 .json files, alert .yaml/.csv files, or folders of them.")] = None,
    feed: Annotated[list[str] | None, typer.Option(
        help="A CSAF provider's provider-metadata.json URL (HTTPS): its ROLIE feeds are "
        "followed and every document's hash checked. Repeatable.")] = None,
    ca_file: Annotated[Path | None, typer.Option(
        help="CA certificates (PEM) to verify the feed's HTTPS server with, instead of the "
        "system's.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Validate and import advisories; a bad document is rejected whole, with the reason."""
    from pacsguard.app.alerts import import_advisories

    summary = import_advisories(workspace(data_dir), paths or [], feed or [], ca_file,
                                on_result=_render_import_result)
    _render_import_summary(summary)
    if summary.total == 0:
        raise ConfigError("no advisories found (.json, .yaml, .yml, .csv files or feed "
                          "entries)")
    if summary.rejected:
        sys.exit(1)


def _render_import_result(r: ImportResult) -> None:
    from pacsguard.advisories.store import Imported

    if r.outcome is Imported.REJECTED:
        err_console.print(f"[red]rejected[/] {escape(r.detail)}", highlight=False)
    elif r.detail:
        err_console.print(f"[yellow]warning[/] {escape(r.tracking_id)}: "
                          f"{escape(r.detail)}", highlight=False)


def _render_import_summary(s: ImportSummary) -> None:
    console.print(f"{s.total} advisories read: {s.new} new, {s.revisions} new revisions, "
                  f"{s.unchanged} already imported, {s.rejected} rejected"
                  + (f"; {s.warned} with warnings" if s.warned else ""), highlight=False)
    if s.from_feeds:
        err_console.print("feed documents were checked against their published hashes; "
                          "OpenPGP signatures (.asc) are not checked yet", highlight=False)


@app.command("list", short_help="List the imported advisories.")
@friendly
def list_cmd(data_dir: DataDir = None, output_format: Format = "table") -> None:
    """List the imported advisories (newest revision of each)."""
    from pacsguard.app.alerts import list_advisories

    check_format(output_format)
    _render_advisories(list_advisories(workspace(data_dir)), output_format)


def _render_advisories(advisories: tuple[AdvisorySummary, ...], output_format: str) -> None:
    rows = [dataclasses.asdict(a) for a in advisories]
    emit(rows, [("tracking_id", "id"), ("revision", "rev"), ("published", "published"),
                ("updated", "updated"), ("publisher", "publisher"), ("title", "title"),
                ("products", "products"), ("revisions", "revisions"),
                ("warnings", "warnings")],
         output_format, title=f"{len(rows)} advisories",
         table_columns=["tracking_id", "revision", "published", "title", "products"])


@app.command("match", short_help="Every advisory x machine result, and why it matched.")
@friendly
def match_cmd(
    data_dir: DataDir = None,
    output_format: Format = "table",
    status: Annotated[list[str] | None, typer.Option(
        help="Only these statuses (repeatable): affected, fixed, 'needs review', "
        "'not affected', 'not matched'.")] = None,
    no_sync: NoSync = False,
    wide: Wide = False,
) -> None:
    """Every advisory x machine result: affected, fixed, needs review or not affected, with
    the CVEs, the highest CVSS v3 score, the vendor's remediation and why it matched; and the
    machines of each named vendor that were considered and not matched, with the reason."""
    from pacsguard.app.alerts import match

    check_format(output_format)
    results = match(workspace(data_dir), status or [], sync=not no_sync, on_sync=render_sync)
    _render_matches(results, output_format, wide)


def _render_matches(r: MatchResults, output_format: str, wide: bool) -> None:
    from pacsguard.advisories.match import NOT_MATCHED

    rows = [dataclasses.asdict(m) | {"status": m.status.value} for m in r.matches]
    columns = [("status", "status"), ("tracking_id", "advisory"), ("machine", "machine"),
               ("cvss", "CVSS"), ("cves", "CVEs"), ("title", "title"), ("reasons", "why"),
               ("remediations", "remediation"), ("published", "published"),
               ("revision", "rev"), ("machine_id", "machine id")]
    if output_format != "table":  # every considered machine, one row each, with the reasons
        rows += [dataclasses.asdict(c) | {"status": NOT_MATCHED} for c in r.considered]
    emit(rows, columns, output_format, title=f"{len(r.matches)} advisory x machine results",
         table_columns=["status", "tracking_id", "machine", "cvss", "cves"],
         wide_columns=["status", "tracking_id", "machine", "cvss", "cves", "title",
                       "reasons", "remediations"], wide=wide)
    if output_format != "table":
        return
    if r.considered:  # a count per advisory; --format json lists each machine with the reason
        # the heading on a line of its own: as a title it wrapped to the narrow table's width
        console.print(f"\n{len(r.considered)} machines of named vendors considered and not "
                      "matched (--format json: each, with why)", highlight=False)
        emit([{"tracking_id": n.tracking_id, "count": n.machines,
               "why": ", ".join(f"{k} {kind}" for kind, k in n.why)}
              for n in r.not_matched],
             [("tracking_id", "advisory"), ("count", "machines"), ("why", "why not")],
             "table")
    err_console.print(", ".join(f"{n} {s}" for s, n in r.counts), highlight=False)


@app.command("decide", short_help="Record a decision on an advisory for one machine.")
@friendly
def decide_cmd(
    tracking_id: Annotated[str, typer.Argument(help="The advisory's tracking id, e.g. "
                                               "ICSMA-21-187-01.")],
    machine_id: Annotated[int, typer.Argument(help="The machine's id (inventory list).")],
    kind: Annotated[str, typer.Argument(help="patched, mitigated, accepted_risk or "
                                        "not_applicable.")],
    by: Annotated[str, typer.Option(help="Who decides (name, role).")] = "",
    date: Annotated[str, typer.Option(help="patched: the date it was patched "
                                      "(YYYY-MM-DD).")] = "",
    version: Annotated[str, typer.Option(help="patched: the version installed.")] = "",
    what: Annotated[str, typer.Option(help="mitigated: what was done.")] = "",
    until: Annotated[str, typer.Option(help="mitigated: until when (YYYY-MM-DD).")] = "",
    why: Annotated[str, typer.Option(help="accepted_risk / not_applicable: why.")] = "",
    review: Annotated[str, typer.Option(help="accepted_risk: review date "
                                        "(YYYY-MM-DD).")] = "",
    data_dir: DataDir = None,
) -> None:
    """Record a decision on an advisory for one machine (appended to the audit trail; earlier
    decisions are kept)."""
    from pacsguard.app.alerts import decide

    details = {"date": date, "version": version, "what": what, "until": until, "why": why,
               "review": review}
    _render_decision(decide(workspace(data_dir), tracking_id, machine_id, kind, details, by))


def _render_decision(d: Decision) -> None:
    console.print(f"decision {d.id}: {d.tracking_id} on machine {d.machine_id}: "
                  f"{d.summary()}", highlight=False)


@app.command("decisions", short_help="The decision audit trail, after checking its hash chain.")
@friendly
def decisions_cmd(data_dir: DataDir = None, output_format: Format = "table") -> None:
    """The decision audit trail, oldest first, after checking its hash chain."""
    from pacsguard.app.alerts import decisions

    check_format(output_format)
    trail = decisions(workspace(data_dir))
    _render_trail(trail, output_format)
    if trail.problems:
        sys.exit(1)


def _render_trail(trail: Trail, output_format: str) -> None:
    rows = [dataclasses.asdict(d) | {"summary": d.summary()} for d in trail.decisions]
    emit(rows, [("id", "id"), ("decided_at", "when"), ("tracking_id", "advisory"),
                ("machine_id", "machine"), ("kind", "decision"), ("summary", "summary"),
                ("decided_by", "by"), ("chain", "chain")],
         output_format, title=f"{len(rows)} decisions",
         table_columns=["id", "decided_at", "tracking_id", "machine_id", "summary"])
    for p in trail.problems:
        err_console.print(f"[bold red]TRAIL TAMPERED:[/] {p}", highlight=False)
    if trail.decisions and output_format == "table":
        err_console.print(f"chain head {trail.head} (keep it with the ledger checkpoint "
                          "to detect removal of the newest decisions)", highlight=False)


@app.command("review", short_help="What changed since the last review; then mark it reviewed.")
@friendly
def review_cmd(
    by: Annotated[str, typer.Option(help="Who reviews (required unless --dry-run).")] = "",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what is new; do not "
                                          "mark it reviewed.")] = False,
    data_dir: DataDir = None,
    output_format: Format = "table",
    no_sync: NoSync = False,
) -> None:
    """What is new since the last review (new, changed and gone results) and which machines
    it hits; then marks it reviewed."""
    from pacsguard.app.alerts import review

    check_format(output_format)
    r = review(workspace(data_dir), by, mark=not dry_run, sync=not no_sync,
               on_sync=render_sync)
    _render_review(r, by, output_format)


def _render_review(r: Reviewed, by: str, output_format: str) -> None:
    rows = [{"change": c.kind, "tracking_id": c.tracking_id, "machine_id": c.machine_id,
             "machine": c.machine, "status": c.status, "before": c.before,
             "title": c.match.title if c.match else "",
             "cvss": c.match.cvss if c.match else None,
             "reasons": c.match.reasons if c.match else ()} for c in r.changes]
    emit(rows, [("change", "change"), ("tracking_id", "advisory"), ("machine", "machine"),
                ("status", "now"), ("before", "before"), ("cvss", "CVSS"), ("title", "title"),
                ("reasons", "why"), ("machine_id", "machine id")],
         output_format, title=f"{len(rows)} changes since "
         f"{'the last review, ' + r.last_review if r.last_review else 'no earlier review'}",
         table_columns=["change", "tracking_id", "machine", "status", "before", "cvss"])
    if output_format == "table":
        err_console.print("not marked as reviewed (--dry-run)" if not r.marked else
                          f"marked reviewed by {by}", highlight=False)
