"""``pacsguard alerts``: import advisories and see which machines they hit."""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from pacsguard.cli.common import DataDir, console, err_console, friendly, workspace
from pacsguard.cli.inventory import Format, NoSync, synced_engine
from pacsguard.cli.output import Wide, check_format, emit
from pacsguard.errors import ConfigError

# The advisory modules (jsonschema, univers, cvss) are imported inside the commands: every
# other pacsguard command starts faster without them.

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
    from itertools import chain

    from pacsguard.advisories.feed import import_feed
    from pacsguard.advisories.store import Imported, import_paths

    paths, feed = paths or [], feed or []
    if not paths and not feed:
        raise ConfigError("give advisory files or folders, or --feed URL")
    for p in paths:
        if not p.exists():
            raise ConfigError(f"{p} does not exist")
    ledger, _, _ = workspace(data_dir).open_ledger()
    counts: Counter[str] = Counter()
    warned = 0
    results = chain(import_paths(ledger.engine, paths),
                    *(import_feed(ledger.engine, url, ca_file) for url in feed))
    for r in results:
        counts[r.outcome] += 1
        if r.outcome is Imported.REJECTED:
            err_console.print(f"[red]rejected[/] {escape(r.detail)}", highlight=False)
        elif r.detail:
            warned += 1
            err_console.print(f"[yellow]warning[/] {escape(r.tracking_id)}: "
                              f"{escape(r.detail)}", highlight=False)
    total = sum(counts.values())
    console.print(f"{total} advisories read: {counts[Imported.NEW]} new, "
                  f"{counts[Imported.REVISION]} new revisions, {counts[Imported.UNCHANGED]} "
                  f"already imported, {counts[Imported.REJECTED]} rejected"
                  + (f"; {warned} with warnings" if warned else ""), highlight=False)
    if feed:
        err_console.print("feed documents were checked against their published hashes; "
                          "OpenPGP signatures (.asc) are not checked yet", highlight=False)
    if total == 0:
        raise ConfigError("no advisories found (.json, .yaml, .yml, .csv files or feed "
                          "entries)")
    if counts[Imported.REJECTED]:
        sys.exit(1)


@app.command("list", short_help="List the imported advisories.")
@friendly
def list_cmd(data_dir: DataDir = None, output_format: Format = "table") -> None:
    """List the imported advisories (newest revision of each)."""
    from pacsguard.advisories.store import list_advisories

    check_format(output_format)
    ledger, _, _ = workspace(data_dir).open_ledger()
    rows = [dataclasses.asdict(a) for a in list_advisories(ledger.engine)]
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
    from pacsguard.advisories.match import NOT_MATCHED, MatchStatus, match_report
    from pacsguard.advisories.store import current_products
    from pacsguard.inventory.machines import list_machines

    check_format(output_format)
    statuses = [m.value for m in MatchStatus] + [NOT_MATCHED]
    for s in status or []:
        if s not in statuses:
            raise ConfigError(f"--status {s!r}: use one of {', '.join(statuses)}")
    wanted = set(status or statuses)
    engine = synced_engine(data_dir, no_sync)
    report = match_report(current_products(engine), list_machines(engine))
    found = [m for m in report.matches if m.status in wanted]
    rows = [dataclasses.asdict(m) | {"status": m.status.value} for m in found]
    considered = report.considered if NOT_MATCHED in wanted else []
    columns = [("status", "status"), ("tracking_id", "advisory"), ("machine", "machine"),
               ("cvss", "CVSS"), ("cves", "CVEs"), ("title", "title"), ("reasons", "why"),
               ("remediations", "remediation"), ("published", "published"),
               ("revision", "rev"), ("machine_id", "machine id")]
    if output_format != "table":  # every considered machine, one row each, with the reasons
        rows += [dataclasses.asdict(c) | {"status": NOT_MATCHED} for c in considered]
    emit(rows, columns, output_format, title=f"{len(found)} advisory x machine results",
         table_columns=["status", "tracking_id", "machine", "cvss", "cves"],
         wide_columns=["status", "tracking_id", "machine", "cvss", "cves", "title",
                       "reasons", "remediations"], wide=wide)
    if output_format != "table":
        return
    if considered:  # a count per advisory; --format json lists each machine with the reason
        # the heading on a line of its own: as a title it wrapped to the narrow table's width
        console.print(f"\n{len(considered)} machines of named vendors considered and not "
                      "matched (--format json: each, with why)", highlight=False)
        emit([{"tracking_id": tid, "count": n,
               "why": ", ".join(f"{k} {kind}" for kind, k in kinds.items())}
              for tid, n, kinds in report.not_matched_by_advisory()],
             [("tracking_id", "advisory"), ("count", "machines"), ("why", "why not")],
             "table")
    counts = Counter(m.status.value for m in found) + Counter({NOT_MATCHED: len(considered)})
    err_console.print(", ".join(f"{counts[s]} {s}" for s in statuses if s in wanted),
                      highlight=False)




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
    from pacsguard.advisories.decisions import record_decision

    ledger, _, _ = workspace(data_dir).open_ledger()
    details = {"date": date, "version": version, "what": what, "until": until, "why": why,
               "review": review}
    d = record_decision(ledger.engine, tracking_id, machine_id, kind, details, by)
    console.print(f"decision {d.id}: {tracking_id} on machine {machine_id}: {d.summary()}",
                  highlight=False)


@app.command("decisions", short_help="The decision audit trail, after checking its hash chain.")
@friendly
def decisions_cmd(data_dir: DataDir = None, output_format: Format = "table") -> None:
    """The decision audit trail, oldest first, after checking its hash chain."""
    from pacsguard.advisories.decisions import all_decisions, check_chain

    check_format(output_format)
    ledger, _, _ = workspace(data_dir).open_ledger()
    problems = check_chain(ledger.engine)
    trail = all_decisions(ledger.engine)
    rows = [dataclasses.asdict(d) | {"summary": d.summary()} for d in trail]
    emit(rows, [("id", "id"), ("decided_at", "when"), ("tracking_id", "advisory"),
                ("machine_id", "machine"), ("kind", "decision"), ("summary", "summary"),
                ("decided_by", "by"), ("chain", "chain")],
         output_format, title=f"{len(rows)} decisions",
         table_columns=["id", "decided_at", "tracking_id", "machine_id", "summary"])
    for p in problems:
        err_console.print(f"[bold red]TRAIL TAMPERED:[/] {p}", highlight=False)
    if trail and output_format == "table":
        err_console.print(f"chain head {trail[-1].chain} (keep it with the ledger checkpoint "
                          "to detect removal of the newest decisions)", highlight=False)
    if problems:
        sys.exit(1)


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
    from pacsguard.advisories.match import match
    from pacsguard.advisories.review import review
    from pacsguard.advisories.store import current_products
    from pacsguard.inventory.machines import list_machines

    check_format(output_format)
    engine = synced_engine(data_dir, no_sync)
    r = review(engine, match(current_products(engine), list_machines(engine)), by,
               mark=not dry_run)
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
        err_console.print("not marked as reviewed (--dry-run)" if dry_run else
                          f"marked reviewed by {by}", highlight=False)
