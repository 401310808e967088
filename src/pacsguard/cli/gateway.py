"""``pacsguard gateway``: the DICOM integrity gateway between modalities and the PACS."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pacsguard.cli.common import err_console, friendly
from pacsguard.cli.output import Wide

app = typer.Typer(help="The integrity gateway: record every image before acknowledging it.",
                  no_args_is_help=True)

ConfigFile = Annotated[Path, typer.Option("--config", help="The gateway's TOML configuration "
                                          "(see docs/gateway.md).")]


@app.command("check-config", short_help="Validate the configuration file.")
@friendly
def check_config_cmd(config: ConfigFile) -> None:
    """Validate the configuration file and say what it would do."""
    from pacsguard.app.gateway import check_config

    check = check_config(config)
    g = check.config.gateway
    transport = "DICOM TLS" if check.tls else "plain TCP (explicitly allowed)"
    print(f"{config}: valid. AE title {g.ae_title} on {g.listen_address}:{g.port} over "
          f"{transport}; {len(check.config.sender)} allowed senders; spool {g.spool_dir}")
    _warn(config, check.warnings)  # valid, so exit status 0; said on stderr


def _warn(config: Path, warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning[/]: {escape(f'{config}: {warning}')}",
                          highlight=False)


@app.command("run", short_help="Run the gateway: record every image, then forward it.")
@friendly
def run_cmd(config: ConfigFile) -> None:
    """Receive images: fingerprint, append to the ledger and spool durably before answering
    Success. Stops gracefully on SIGTERM or Ctrl-C, finishing the stores in flight."""
    from pacsguard.app import gateway

    check = gateway.check_config(config)
    _warn(config, check.warnings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def say(event: gateway.GatewayEvent) -> None:
        if isinstance(event, gateway.SpoolRecovered):
            err_console.print(f"spool recovered after an interruption: {event.queued} "
                              f"recorded instances queued, {event.deleted} unacknowledged "
                              "files removed", highlight=False)
        elif isinstance(event, gateway.Listening):
            err_console.print(f"gateway {event.ae_title} listening on {event.address}:"
                              f"{event.port} ({'TLS' if event.tls else 'plain TCP'}); audit "
                              f"log {event.audit_log}", highlight=False)
        else:
            err_console.print("gateway stopped", highlight=False)

    gateway.run(check.config, stop, on_event=say)


@app.command("status", short_help="Queues, dead letters and failures per destination.")
@friendly
def status_cmd(config: ConfigFile, output_format: Annotated[str, typer.Option(
        "--format", help="table, json or csv")] = "table", wide: Wide = False) -> None:
    """Queue depth, oldest waiting item, dead letters and failures, per destination; then
    each destination's last error."""
    import dataclasses

    from pacsguard.app.gateway import check_config, status
    from pacsguard.cli.common import console
    from pacsguard.cli.output import check_format, emit

    check_format(output_format)
    st = status(check_config(config).config)
    rows = [dataclasses.asdict(q) for q in st.queues]
    for r in rows:
        age = r["oldest_age_s"]
        r["oldest"] = "" if age is None else f"{age:.0f} s"
    emit(rows, [("destination", "destination"), ("depth", "waiting"), ("oldest", "oldest"),
                ("dead_letters", "dead letters"), ("sent", "sent"), ("failures", "failures"),
                ("last_error", "last error"), ("last_error_at", "at")],
         output_format, title=f"gateway {st.ae_title} queues",
         table_columns=["destination", "depth", "oldest", "dead_letters", "sent", "failures"],
         wide=wide)
    if output_format == "table" and not wide:  # the errors read better as lines than cells
        for r in rows:
            if r["last_error"]:
                console.print(f"{r['destination']}: last error at {r['last_error_at']}: "
                              f"{r['last_error']}", highlight=False, markup=False)
    if st.quarantined and output_format == "table":
        err_console.print(f"[bold red]{st.quarantined} in quarantine[/] ({st.quarantine_dir}): "
                          "instances the scan found weaponised, never forwarded; the audit log "
                          "names the findings (store_rejected, quarantined)", highlight=False)
    if st.dead_letters and output_format == "table":
        err_console.print(f"[bold red]dead letters[/] in {st.dead_dir}: "
                          "instances that could not be delivered; the audit log says why",
                          highlight=False)
