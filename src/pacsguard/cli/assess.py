"""``pacsguard assess`` and ``pacsguard assess-replay``: parse, call :mod:`pacsguard.app.assess`,
render (docs/assess.md). The ``_render*`` functions are all the printing there is."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from pacsguard.cli.common import DataDir, console, err_console, friendly

if TYPE_CHECKING:
    from pacsguard.app.assess import Replayed
    from pacsguard.assess.model import Assessment, Section

Authorised = Annotated[str, typer.Option(
    "--authorized-by", help="Who authorised this test and their reference, as \"NAME, "
    "reference\" (required; goes into the report).", show_default=False)]
Timeout = Annotated[float, typer.Option(min=0.5, max=60, help="Seconds per network step.")]
TlsCert = Annotated[Path | None, typer.Option(
    "--tls-cert", help="Client certificate (PEM) to present over TLS.", show_default=False)]
TlsKey = Annotated[Path | None, typer.Option(
    "--tls-key", help="Its private key (PEM).", show_default=False)]

_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow",
          "low": "cyan", "info": "dim"}
PASSWORD_ENV = "PACSGUARD_HTTP_PASSWORD"


def _render(a: Assessment) -> None:
    from pacsguard.assess.report import verdict

    console.print(f"[bold]{escape(a.target)}[/] ({a.address}:{a.port}), authorised by "
                  f"{escape(str(a.authorisation))}; {a.seconds:.1f} s", highlight=False)
    for s in a.sections:
        head = f"[bold]{escape(s.title)}[/]"
        if s.skipped:
            console.print(f"{head}: [dim]not run: {escape(s.skipped)}[/]", highlight=False)
            continue
        console.print(head, highlight=False)
        for fact in s.facts:
            console.print(f"  {escape(fact.name)}: {escape(fact.value)}", highlight=False)
        if s.gap:
            console.print(f"  [yellow]incomplete[/]: {escape(s.gap)}", highlight=False)
    console.rule(f"{len(a.findings)} findings")
    for f in a.findings:
        label = f.severity.label
        console.print(f"[{_STYLE[label]}]{label.upper():8}[/] [bold]{f.id}[/]  "
                      f"{escape(f.title)}", highlight=False)
        console.print(f"  [dim]evidence:[/] {escape(f.evidence)}", highlight=False)
        console.print(f"  [dim]remediation:[/] {escape(f.remediation)}", highlight=False)
    if not a.complete:
        console.print(f"[bold yellow]incomplete[/] (highest severity found: {a.worst.label}): "
                      f"{escape(verdict(a))}", highlight=False)
        return
    console.print(f"[{_STYLE[a.worst.label]}]highest severity: {a.worst.label}[/]: "
                  f"{verdict(a)}", highlight=False)


def _render_interrupted(cleanup: Section | None, allow_write: bool) -> None:
    """What Ctrl-C left behind: no report; the cleanup's outcome, or that nothing was
    written."""
    err_console.print("[yellow]interrupted[/]: the assessment stopped before its end; no "
                      "report was written and there is no verdict.", highlight=False)
    if cleanup is None:
        err_console.print("Nothing was written to the node" + (
            "." if allow_write else " (--allow-write was not given)."), highlight=False)
        return
    if cleanup.skipped:
        err_console.print(f"Cleanup: {escape(cleanup.skipped)}.", highlight=False)
    else:
        err_console.print("Cleanup of the test instances: " + ", ".join(
            f"{escape(f.name)} {escape(f.value)}" for f in cleanup.facts) + ".",
            highlight=False)
    for f in cleanup.findings:
        err_console.print(f"[yellow]{f.id}[/]: {escape(f.evidence)} "
                          f"{escape(f.remediation)}", highlight=False)


def _write(path: Path, text: str) -> None:
    from pacsguard.app.assess import save_report

    if str(path) == "-":
        sys.stdout.write(text)
        return
    save_report(path, text)
    err_console.print(f"wrote {path}", highlight=False)


def _render_replay(reproducer: Path, done: Replayed) -> None:
    console.print(f"sent {escape(str(reproducer))} to {done.target}: the node answered "
                  f"{escape(done.result.response)}; liveness: {done.result.first.state} "
                  f"({escape(done.result.first.detail)})", highlight=False)
    for f in done.findings:
        console.print(f"[{_STYLE[f.severity.label]}]{f.id}[/] {escape(f.evidence)}",
                      highlight=False)


@friendly
def assess_cmd(
    target: Annotated[str, typer.Argument(help="HOST:PORT of the one DICOM node to assess "
                                          "(only it is contacted).")],
    authorized_by: Authorised = "",
    called_aet: Annotated[str | None, typer.Option(
        help="The node's AE title, if known (else well-known defaults are guessed).")] = None,
    timeout: Timeout = 3.0,
    rate: Annotated[float, typer.Option(min=0.1, max=50, help="Requests (connections, "
                                        "queries, handshakes, HTTP, fuzz cases and their "
                                        "liveness checks) per second, at most.")] = 10.0,
    guesses: Annotated[int | None, typer.Option(
        min=0, max=24, help="Default called AE titles to try at most (default: all 24; none "
        "when --called-aet is given).", show_default=False)] = None,
    tls_port: Annotated[int | None, typer.Option(min=1, max=65535, help="The node's TLS "
                                                 "port, if not the DICOM port.")] = None,
    tls_cert: TlsCert = None, tls_key: TlsKey = None,
    tls_ca: Annotated[Path | None, typer.Option(
        "--tls-ca", help="CA bundle the node's certificate should verify against.",
        show_default=False)] = None,
    http: Annotated[str | None, typer.Option(
        "--http", help="The node's web URL (same host), e.g. http://HOST:8042/.")] = None,
    http_user: Annotated[str | None, typer.Option(
        help=f"User for the web API (password from ${PASSWORD_ENV}); lets pacsguard read "
        "Orthanc's version and delete its test instances.")] = None,
    allow_write: Annotated[bool, typer.Option(
        "--allow-write", help="Test C-STORE with labelled test instances (cleaned up where "
        "the node allows).")] = False,
    fuzz: Annotated[int, typer.Option(min=0, max=10_000, help="Fuzz cases to send (0: no "
                                      "fuzzing).")] = 0,
    seed: Annotated[int | None, typer.Option(min=0, help="Fuzz seed (default: random, "
                                             "printed).")] = None,
    reproducers: Annotated[Path | None, typer.Option(
        help="Where failing fuzz cases are written (default: the folder of the --json or "
        "--html report, else the current folder).", show_default=False)] = None,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the assessment as JSON ('-': standard output).",
        show_default=False)] = None,
    html_out: Annotated[Path | None, typer.Option(
        "--html", help="Write the self-contained HTML report.", show_default=False)] = None,
    data_dir: DataDir = None,
) -> None:
    """Assess one named DICOM node you are authorised to test: association policy, identity
    and advisories, services, data and write exposure, query robustness, TLS, web APIs, and
    an optional fuzz campaign. Exit status: 0 nothing above info; 3, 4, 5, 6 for a highest
    severity of low, medium, high, critical; 2 an error, or an incomplete assessment (checks
    that could not run; the report is still written): no verdict; 130 interrupted."""
    from pacsguard.app.assess import assess
    from pacsguard.assess.report import to_json
    from pacsguard.render.html import assessment_page

    done = assess(target, authorized_by, called_aet=called_aet, timeout=timeout, rate=rate,
                  guesses=guesses, tls_port=tls_port, tls_cert=tls_cert, tls_key=tls_key,
                  tls_ca=tls_ca, http=http, http_user=http_user,
                  http_password=os.environ.get(PASSWORD_ENV), allow_write=allow_write,
                  fuzz=fuzz, seed=seed, reproducers=reproducers, json_report=json_out,
                  html_report=html_out, data_dir=data_dir,
                  on_progress=lambda step: err_console.print(f"[dim]{escape(step)}[/]",
                                                             highlight=False))
    if done.assessment is None:
        _render_interrupted(done.cleanup, allow_write)
        sys.exit(130)
    a = done.assessment
    if json_out is not None and str(json_out) == "-":
        sys.stdout.write(to_json(a))
    else:
        _render(a)
        if json_out is not None:
            _write(json_out, to_json(a))
    if html_out is not None:
        _write(html_out, assessment_page(a))
    sys.exit(a.exit_status)


@friendly
def replay_cmd(
    reproducer: Annotated[Path, typer.Argument(help="A reproducer written by 'assess "
                                               "--fuzz'.")],
    target: Annotated[str, typer.Argument(help="HOST:PORT of the node to replay it to.")],
    authorized_by: Authorised = "",
    called_aet: Annotated[str | None, typer.Option(
        help="Called AE title for the liveness check (default: the reproducer's).")] = None,
    timeout: Timeout = 3.0,
    tls: Annotated[bool, typer.Option("--tls", help="Connect over TLS.")] = False,
    tls_cert: TlsCert = None, tls_key: TlsKey = None,
) -> None:
    """Send one fuzz reproducer to a node you are authorised to test, then check it is
    alive. Exit status 6: it crashed; 5: it stopped answering; 0: it survived."""
    from pacsguard.app.assess import replay

    try:
        done = replay(reproducer, target, authorized_by, called_aet=called_aet,
                      timeout=timeout, tls=tls, tls_cert=tls_cert, tls_key=tls_key)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]: the replay stopped before the node's "
                          "liveness was known; no verdict.", highlight=False)
        sys.exit(130)
    _render_replay(reproducer, done)
    sys.exit(done.exit_status)


def register(app: typer.Typer) -> None:
    app.command("assess")(assess_cmd)
    app.command("assess-replay")(replay_cmd)
