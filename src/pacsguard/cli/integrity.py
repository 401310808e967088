"""``pacsguard init``, ``record`` and ``verify``: parse, call :mod:`pacsguard.app`, render."""

from __future__ import annotations

import itertools
import json
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from pacsguard.app.verify import FolderVerification, PacsVerification, verify_folders
from pacsguard.cli.common import DataDir, console, err_console, friendly, workspace
from pacsguard.cli.output import Wide, print_document
from pacsguard.errors import ConfigError
from pacsguard.files import iter_files
from pacsguard.integrity.record import Outcome, RecordResult
from pacsguard.integrity.status import Discrepancy
from pacsguard.integrity.verify import VerifyReport
from pacsguard.render.jsonl import JsonLinesRenderer
from pacsguard.render.views import verify_report, verify_summary

if TYPE_CHECKING:
    from pacsguard.app.ledger import Initialised
    from pacsguard.app.record import RecordSummary


class _Rate(ProgressColumn):
    """files/s and MB/s since the start."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 1e-9
        mb = task.fields.get("bytes", 0) / 1e6
        return Text(f"{task.completed / elapsed:,.0f} files/s  {mb / elapsed:,.1f} MB/s",
                    style="cyan")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    _Rate(), TimeElapsedColumn(), console=err_console, transient=False,
                    disable=not err_console.is_terminal)


def _count_later(prog: Progress, task: TaskID, paths: Sequence[Path]) -> None:
    """Count the files in a thread and give the bar its total when known.

    Counting first, then working, cost a whole extra walk of the archive before any work
    began (measured: about a sixth of verify's time on 5,000 files).
    """

    if prog.disable:  # no bar to show (not a terminal): no need to count
        return

    def run() -> None:
        try:
            prog.update(task, total=sum(1 for _ in iter_files(paths)))
        except Exception:  # the work itself reports a bad root, clearly
            return

    threading.Thread(target=run, name="pacsguard-count", daemon=True).start()


class _Bar:
    """The progress bar on standard error (a terminal only), fed the totals so far by a use
    case's ``on_progress``. It starts with the work (the first report), so that a failure
    before it (opening the ledger) is shown alone; with ``count``, the files under those
    paths are counted meanwhile to give the bar its total."""

    def __init__(self, description: str, count: Sequence[Path] | None = None) -> None:
        self.progress = _progress()
        self._description = description
        self._count = count
        self._task: TaskID | None = None

    @property
    def on_progress(self) -> Callable[[int, int], None] | None:
        """The callback to give the use case; None when no bar is shown."""
        return None if self.progress.disable else self._update

    def _update(self, files: int, nbytes: int) -> None:
        if self._task is None:
            self.progress.start()
            self._task = self.progress.add_task(self._description, total=None, bytes=0)
            if self._count is not None:
                _count_later(self.progress, self._task, self._count)
        self.progress.update(self._task, completed=files, bytes=nbytes)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._task is not None:
            self.progress.stop()


# -- init --------------------------------------------------------------------------------------
@friendly
def init_cmd(
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(
        help="Ledger database URL: sqlite:///PATH (default: ledger.sqlite in the data "
        "directory; a relative PATH is inside the data directory) or "
        "postgresql://USER@HOST/DB (a password is better given in PACSGUARD_DATABASE_URL or "
        "~/.pgpass).")] = None,
    origin: Annotated[str | None, typer.Option(
        help="The ledger's name in its checkpoints, e.g. radiology.example-hospital.nhs.uk/pacs"
    )] = None,
    header_profile: Annotated[Path | None, typer.Option(
        help="File listing the attributes archives may rewrite (GGGGEEEE<TAB>keyword<TAB>"
        "reason per line); default: docs/fingerprint.md's list.")] = None,
) -> None:
    """Create the data directory, the signing key and the ledger database."""
    from pacsguard.app.ledger import init

    _render_init(init(workspace(data_dir), database_url, origin, header_profile))


def _render_init(done: Initialised) -> None:
    for line in done.done:
        console.print(f"  {line}")
    console.print(f"[green]ready[/]: data directory {done.data_dir}")


# -- record ------------------------------------------------------------------------------------
@friendly
def record_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (any depth).")],
    data_dir: DataDir = None,
    accept_changes: Annotated[bool, typer.Option(
        "--accept-changes", help="Record a changed instance as a new version that supersedes "
        "the recorded one (needs --reason).")] = False,
    reason: Annotated[str, typer.Option(help="Why the changed version is right.")] = "",
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: every "
                                                "core).")] = None,
    decode: Annotated[bool, typer.Option(
        "--decode/--no-decode", help="Record decoded-pixel digests of compressed images and "
        "icons (the default), so that a later lossless transcode by the archive verifies "
        "intact. --no-decode is faster on compressed archives; a later change of their "
        "transfer syntax then needs review.")] = True,
    _decode_compressed: Annotated[bool, typer.Option(
        "--decode-compressed", hidden=True, help="Accepted for old scripts; now the "
        "default.")] = False,
    commit_every: Annotated[int, typer.Option(
        min=1, help="Entries per ledger commit at most (a commit also happens every 2 s). "
        "Bigger is faster; an interruption loses at most one commit's work.")] = 5000,
    output_format: Annotated[str, typer.Option("--format", help="table or json")] = "table",
) -> None:
    """Fingerprint DICOM files and append new instances to the ledger."""
    from pacsguard.app.record import record_folders

    if output_format not in ("table", "json"):
        raise ConfigError(f"--format {output_format!r}: use table or json")
    ws = workspace(data_dir)
    with _Bar("recording", count=paths) as bar:
        summary = record_folders(
            ws, paths, accept_changes=accept_changes, reason=reason, workers=workers,
            decode=decode, commit_every=commit_every, on_progress=bar.on_progress,
            on_notice=lambda r: _render_record_notice(r, output_format))
    _render_record_summary(summary, output_format)
    if not summary.ok:
        raise typer.Exit(1)


def _render_record_notice(r: RecordResult, output_format: str) -> None:
    """One file the operator should know of, as it happens: nothing per file is kept."""
    if output_format == "json":
        sys.stdout.write(json.dumps({
            "outcome": r.outcome.value, "path": r.path,
            "sop_instance_uid": r.sop_instance_uid, "detail": r.detail}) + "\n")
    else:
        style = "red" if r.outcome in (Outcome.CHANGED, Outcome.UNREADABLE) else "yellow"
        err_console.print(f"[{style}]{r.outcome.value}[/] {r.path}: {r.detail}",
                          highlight=False)


def _render_record_summary(summary: RecordSummary, output_format: str) -> None:
    if output_format == "json":
        err_console.print(json.dumps({"summary": {k.value: v for k, v in summary.counts.items()},
                                      "files": summary.files,
                                      "seconds": round(summary.seconds, 3)}),
                          highlight=False)
    else:
        counts = ", ".join(f"{v} {k.value}" for k, v in sorted(summary.counts.items()))
        console.print(f"{summary.files} files in {summary.seconds:.1f} s "
                      f"({summary.files_per_second:,.0f} files/s, "
                      f"{summary.megabytes_per_second:,.1f} MB/s): {counts or 'nothing'}")


# -- verify ------------------------------------------------------------------------------------
MAX_TABLE_ROWS = 200


@friendly
def verify_cmd(
    paths: Annotated[list[Path] | None, typer.Argument(help="Folders or files to verify.")
                     ] = None,
    data_dir: DataDir = None,
    output_format: Annotated[str, typer.Option(
        "--format", help="table, or json: one object per finding, then a last line with the "
        "summary.")] = "table",
    expect_all: Annotated[bool, typer.Option(
        "--expect-all", help="Every recorded instance must be under PATHS (archive moved); by "
        "default only those recorded under PATHS are expected.")] = False,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default: every "
                                                "core).")] = None,
    pacs: Annotated[str | None, typer.Option(
        help="Verify what this PACS (a destination of the gateway's --config) holds, instead "
        "of files: list it (C-FIND), retrieve (C-GET) and compare.")] = None,
    config: Annotated[Path | None, typer.Option(help="The gateway configuration that names "
                                                "the --pacs destination.")] = None,
    study: Annotated[str | None, typer.Option(help="--pacs: only this Study Instance "
                                              "UID.")] = None,
    since: Annotated[str | None, typer.Option(help="--pacs: studies from this date "
                                              "(YYYYMMDD).")] = None,
    until: Annotated[str | None, typer.Option(help="--pacs: studies up to this date "
                                              "(YYYYMMDD).")] = None,
    sample: Annotated[str | None, typer.Option(help="--pacs: retrieve only a random sample, "
                                               "e.g. 5%; lists are still compared whole.")
                      ] = None,
    seed: Annotated[int | None, typer.Option(help="--pacs --sample: repeat a sample.")] = None,
    wide: Wide = False,
) -> None:
    """Compare files on disk (or, with --pacs, what a PACS holds) with the ledger. Exit 0
    only when everything is intact."""
    if output_format not in ("table", "json"):
        raise ConfigError(f"--format {output_format!r}: use table or json")
    if pacs is not None:
        _verify_pacs(pacs, config, data_dir, output_format, study, since, until, sample, seed,
                     wide)
        return
    if not paths:
        raise ConfigError("give folders or files to verify, or --pacs NAME --config FILE")
    ws = workspace(data_dir)
    with _Bar("verifying", count=paths) as bar:
        found = verify_folders(ws, paths, expect_all=expect_all, workers=workers,
                               on_progress=bar.on_progress)
    _render_folders(found, paths, output_format, wide)
    if not found.ok:
        raise typer.Exit(1)


def _verify_pacs(name: str, config: Path | None, data_dir: Path | None, output_format: str,
                 study: str | None, since: str | None, until: str | None,
                 sample: str | None, seed: int | None, wide: bool = False) -> None:
    from pacsguard.app.verify import verify_pacs

    if config is None:
        raise ConfigError("--pacs needs --config: the gateway configuration naming it")
    with _Bar(f"retrieving from {name}") as bar:
        found = verify_pacs(name, config, data_dir, study=study, since=since, until=until,
                            sample=sample, seed=seed, on_progress=bar.on_progress)
    if found.sample is not None:
        err_console.print(f"sample of {sample} with seed {found.seed} (repeat with --seed "
                          f"{found.seed})", highlight=False)
    _render_pacs(found, output_format, wide)
    if not found.ok:
        raise typer.Exit(1)


def _render_folders(found: FolderVerification, roots: list[Path], output_format: str,
                    wide: bool) -> None:
    report = found.report
    if output_format == "json":  # streamed: one finding per line as the walk gives it
        jsonl = JsonLinesRenderer(ascii=True)
        for f in found.discrepancies:
            sys.stdout.write(jsonl.line(f.as_dict()))
        sys.stdout.write(jsonl.line(verify_summary(report, files=report.files)))
    else:
        first = list(itertools.islice(found.discrepancies, MAX_TABLE_ROWS))
        print_report(report, first, roots, more=sum(1 for _ in found.discrepancies),
                     wide=wide)


def _render_pacs(found: PacsVerification, output_format: str, wide: bool) -> None:
    report, findings = found.report, found.discrepancies
    if output_format == "json":
        jsonl = JsonLinesRenderer(ascii=True)
        for f in findings:
            sys.stdout.write(jsonl.line(f.as_dict()))
        sys.stdout.write(jsonl.line(verify_summary(
            report, pacs=found.pacs, listed=found.listed, missing=found.missing,
            retrieved=found.retrieved)))
    else:
        print_report(report, list(findings[:MAX_TABLE_ROWS]), None,
                     more=max(0, len(findings) - MAX_TABLE_ROWS), wide=wide,
                     counted=f"{found.listed} listed by the PACS, {found.missing} missing "
                     f"({found.retrieved} retrieved)")


def print_report(report: VerifyReport, findings: list[Discrepancy] | None,
                 roots: list[Path] | None = None, more: int = 0, wide: bool = False,
                 counted: str | None = None) -> None:
    """The verify report on the console (see :func:`pacsguard.render.views.verify_report`)."""
    print_document(verify_report(report, findings or [], roots or [], more, wide, counted))


def register(app: typer.Typer) -> None:
    app.command("init")(init_cmd)
    app.command("record")(record_cmd)
    app.command("verify")(verify_cmd)
