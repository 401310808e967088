"""``pacsguard gateway``: the DICOM integrity gateway between modalities and the PACS."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from pacsguard.cli.common import err_console, friendly, workspace
from pacsguard.cli.output import Wide

app = typer.Typer(help="The integrity gateway: record every image before acknowledging it.",
                  no_args_is_help=True)

ConfigFile = Annotated[Path, typer.Option("--config", help="The gateway's TOML configuration "
                                          "(see docs/gateway.md).")]


@app.command("check-config", short_help="Validate the configuration file.")
@friendly
def check_config_cmd(config: ConfigFile) -> None:
    """Validate the configuration file and say what it would do."""
    from pacsguard.gateway.config import load_config

    cfg = load_config(config)
    g = cfg.gateway
    transport = "DICOM TLS" if cfg.tls else "plain TCP (explicitly allowed)"
    if cfg.tls and g.allow_plain_tcp:
        transport = "DICOM TLS"
    print(f"{config}: valid. AE title {g.ae_title} on {g.listen_address}:{g.port} over "
          f"{transport}; {len(cfg.sender)} allowed senders; spool {g.spool_dir}")
    for warning in cfg.warnings():  # valid, so exit status 0; said on stderr
        err_console.print(f"[yellow]warning[/]: {escape(f'{config}: {warning}')}",
                          highlight=False)


@app.command("run", short_help="Run the gateway: record every image, then forward it.")
@friendly
def run_cmd(config: ConfigFile) -> None:
    """Receive images: fingerprint, append to the ledger and spool durably before answering
    Success. Stops gracefully on SIGTERM or Ctrl-C, finishing the stores in flight."""
    from pacsguard.gateway.audit import AuditEvent, AuditLog
    from pacsguard.gateway.config import load_config
    from pacsguard.gateway.forward import ForwarderProcess
    from pacsguard.gateway.receiver import Receiver

    cfg = load_config(config)
    for warning in cfg.warnings():
        err_console.print(f"[yellow]warning[/]: {escape(f'{config}: {warning}')}",
                          highlight=False)
    ws = workspace(cfg.gateway.data_dir)
    ledger, profile, attr_key = ws.open_ledger()
    audit = AuditLog(cfg.gateway.audit_log)

    def guarded(failed: AuditEvent, step: Callable[[], object]) -> None:
        """Run a housekeeping step; a failure is an audit event, never a stop."""
        try:
            step()
        except Exception as exc:
            with contextlib.suppress(Exception):
                audit.write(failed, reason=f"{exc.__class__.__name__}: {exc}")

    def checkpoint() -> None:
        """Sign the ledger's head if it grew, keep the copy outside the database."""
        guarded(AuditEvent.CHECKPOINT_FAILED,
                lambda: ws.save_checkpoint_copy(ledger.sign_checkpoint()))

    receiver = Receiver(cfg, ledger, profile, attr_key, audit)
    status_dir = cfg.gateway.spool_dir / "status"
    status_dir.mkdir(parents=True, exist_ok=True)
    forwarders = [ForwarderProcess(d, receiver.spool, cfg.gateway.audit_log,
                                   cfg.gateway.ae_title, status_dir)
                  for d in cfg.destination]

    def wake_all() -> None:
        for f in forwarders:
            f.wake()

    receiver.on_queued = wake_all
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    queued, deleted = receiver.recover()
    if queued or deleted:
        err_console.print(f"spool recovered after an interruption: {queued} recorded "
                          f"instances queued, {deleted} unacknowledged files removed",
                          highlight=False)
    for f in forwarders:  # forked: before any thread starts
        f.start()
    receiver.start()
    checkpoint()  # the ledger is signed before anything new arrives

    def freed() -> None:
        receiver.spool.forget(sum(f.take_freed() for f in forwarders))
    g = cfg.gateway
    err_console.print(f"gateway {g.ae_title} listening on {g.listen_address}:{g.port} "
                      f"({'TLS' if cfg.tls else 'plain TCP'}); audit log {g.audit_log}",
                      highlight=False)
    next_checkpoint = time.monotonic() + cfg.gateway.checkpoint_seconds
    try:
        while not stop.wait(2.0):
            guarded(AuditEvent.RECEIPTS_FAILED, receiver.flush_receipts)
            freed()
            if time.monotonic() >= next_checkpoint:
                checkpoint()
                next_checkpoint = time.monotonic() + cfg.gateway.checkpoint_seconds
    finally:
        guarded(AuditEvent.STOP_FAILED, receiver.stop)
        guarded(AuditEvent.RECEIPTS_FAILED, receiver.flush_receipts)
        for f in forwarders:
            f.stop()
        for f in forwarders:
            f.join(timeout=60)
        freed()
        cpu: dict[str, float] = {f"{k}_ms": round(v * 1000, 1)
                                 for k, v in receiver.cpu_seconds.items()}
        cpu["forward_ms"] = round(sum(f.cpu_seconds for f in forwarders) * 1000, 1)
        checkpoint()
        guarded(AuditEvent.STOP_FAILED, lambda: audit.write(
            AuditEvent.GATEWAY_STOPPED, pending=receiver.spool.used, cpu=cpu))
        audit.close()
        ledger.engine.dispose()
        err_console.print("gateway stopped", highlight=False)


@app.command("status", short_help="Queues, dead letters and failures per destination.")
@friendly
def status_cmd(config: ConfigFile, output_format: Annotated[str, typer.Option(
        "--format", help="table, json or csv")] = "table", wide: Wide = False) -> None:
    """Queue depth, oldest waiting item, dead letters and failures, per destination; then
    each destination's last error."""
    import dataclasses

    from pacsguard.cli.common import console
    from pacsguard.cli.output import check_format, emit
    from pacsguard.gateway.config import load_config
    from pacsguard.gateway.forward import queue_status

    check_format(output_format)
    cfg = load_config(config)
    rows = [dataclasses.asdict(q) for q in queue_status(cfg.gateway.spool_dir,
                                                         [d.name for d in cfg.destination])]
    for r in rows:
        age = r["oldest_age_s"]
        r["oldest"] = "" if age is None else f"{age:.0f} s"
    emit(rows, [("destination", "destination"), ("depth", "waiting"), ("oldest", "oldest"),
                ("dead_letters", "dead letters"), ("sent", "sent"), ("failures", "failures"),
                ("last_error", "last error"), ("last_error_at", "at")],
         output_format, title=f"gateway {cfg.gateway.ae_title} queues",
         table_columns=["destination", "depth", "oldest", "dead_letters", "sent", "failures"],
         wide=wide)
    if output_format == "table" and not wide:  # the errors read better as lines than cells
        for r in rows:
            if r["last_error"]:
                console.print(f"{r['destination']}: last error at {r['last_error_at']}: "
                              f"{r['last_error']}", highlight=False, markup=False)
    quarantine = cfg.gateway.spool_dir / "quarantine"
    held = sorted(quarantine.iterdir()) if quarantine.is_dir() else []
    if held and output_format == "table":
        err_console.print(f"[bold red]{len(held)} in quarantine[/] ({quarantine}): instances "
                          "the scan found weaponised, never forwarded; the audit log names the "
                          "findings (store_rejected, quarantined)", highlight=False)
    if any(r["dead_letters"] for r in rows) and output_format == "table":
        err_console.print(f"[bold red]dead letters[/] in {cfg.gateway.spool_dir / 'dead'}: "
                          "instances that could not be delivered; the audit log says why",
                          highlight=False)
