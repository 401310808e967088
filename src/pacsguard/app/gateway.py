"""The gateway service: check a configuration, run the integrity gateway until told to stop,
and say what its queues hold (docs/gateway.md).

Called alike by ``pacsguard gateway`` and, later, the web dashboard or a service manager.
:func:`run` is the supervisor: it opens the ledger, recovers the spool, forks one forwarder
process per destination, starts the receiver, signs a checkpoint of the ledger every
``checkpoint_seconds`` (when it grew), and on ``stop_event`` stops in order: new associations
refused, those in flight finished, forwarders stopped, a last checkpoint signed. Signals are
the caller's business (only a process's main thread may install handlers): ``gateway run``
sets ``stop_event`` on SIGTERM and Ctrl-C.

The forwarders are forked processes (:class:`~pacsguard.gateway.forward.ForwarderProcess`),
forked before any thread of :func:`run` starts; a caller that runs other threads should run
the gateway in a process of its own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pacsguard.gateway.audit import AuditEvent, AuditLog
from pacsguard.gateway.config import GatewayConfig, load_config

if TYPE_CHECKING:
    from pacsguard.gateway.forward import QueueStatus

#: how often the supervisor flushes receipts, counts freed bytes and looks at the clock (s)
TICK_SECONDS = 2.0


@dataclass(frozen=True)
class ConfigCheck:
    """A valid configuration (an invalid one raises :class:`~pacsguard.errors.ConfigError`
    naming the key) and what is valid but probably not meant."""

    path: Path
    config: GatewayConfig
    warnings: tuple[str, ...]

    @property
    def tls(self) -> bool:
        """Whether modalities must use DICOM TLS (else plain TCP, explicitly allowed)."""
        return self.config.tls is not None


def check_config(path: Path) -> ConfigCheck:
    """Load and validate the gateway's configuration file."""
    cfg = load_config(path)
    return ConfigCheck(path, cfg, tuple(cfg.warnings()))


# -- what :func:`run` reports as it goes -------------------------------------------------------


@dataclass(frozen=True)
class SpoolRecovered:
    """Start-up recovery found what a crash interrupted in ``spool/tmp/`` (only said when it
    found something): recorded instances queued, unacknowledged files removed."""

    queued: int
    deleted: int


@dataclass(frozen=True)
class Listening:
    """The receiver listens; the ledger's head is signed."""

    ae_title: str
    address: str
    port: int
    tls: bool
    audit_log: Path


@dataclass(frozen=True)
class Stopped:
    """The gateway stopped: receiver closed, forwarders ended, last checkpoint signed."""

    pending_bytes: int  # still in the spool (queued, held, dead letters, quarantined)


GatewayEvent = SpoolRecovered | Listening | Stopped


def run(config: GatewayConfig, stop_event: threading.Event,
        on_event: Callable[[GatewayEvent], None] | None = None) -> None:
    """Run the gateway until ``stop_event`` is set (module docstring). Raises
    :class:`~pacsguard.errors.PacsguardError` when it cannot start (no ledger, port in use,
    TLS key unreadable); once it runs, a failing housekeeping step is an audit event
    (``checkpoint_failed``, ``receipts_failed``, ``stop_failed``), never a stop."""
    # imported here: check-config and status need none of the receiving side (sqlalchemy,
    # the fingerprint, the scan), and the command line starts faster without them
    from pacsguard.gateway.forward import ForwarderProcess
    from pacsguard.gateway.receiver import Receiver
    from pacsguard.workspace import Workspace, resolve_data_dir

    emit = on_event if on_event is not None else _ignore
    g = config.gateway
    ws = Workspace(resolve_data_dir(g.data_dir))
    ledger, profile, attr_key = ws.open_ledger()
    audit = AuditLog(g.audit_log)

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

    receiver = Receiver(config, ledger, profile, attr_key, audit)
    status_dir = g.spool_dir / "status"
    status_dir.mkdir(parents=True, exist_ok=True)
    forwarders = [ForwarderProcess(d, receiver.spool, g.audit_log, g.ae_title, status_dir)
                  for d in config.destination]

    def wake_all() -> None:
        for f in forwarders:
            f.wake()

    receiver.on_queued = wake_all
    queued, deleted = receiver.recover()
    if queued or deleted:
        emit(SpoolRecovered(queued, deleted))
    for f in forwarders:  # forked: before any thread starts
        f.start()
    receiver.start()
    checkpoint()  # the ledger is signed before anything new arrives

    def freed() -> None:
        receiver.spool.forget(sum(f.take_freed() for f in forwarders))

    emit(Listening(g.ae_title, g.listen_address, g.port, config.tls is not None, g.audit_log))
    next_checkpoint = time.monotonic() + g.checkpoint_seconds
    try:
        while not stop_event.wait(TICK_SECONDS):
            guarded(AuditEvent.RECEIPTS_FAILED, receiver.flush_receipts)
            freed()
            if time.monotonic() >= next_checkpoint:
                checkpoint()
                next_checkpoint = time.monotonic() + g.checkpoint_seconds
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
        pending = receiver.spool.used
        guarded(AuditEvent.STOP_FAILED,
                lambda: audit.write(AuditEvent.GATEWAY_STOPPED, pending=pending, cpu=cpu))
        audit.close()
        ledger.engine.dispose()
        emit(Stopped(pending))


def _ignore(_event: GatewayEvent) -> None:
    pass


# -- status --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GatewayStatus:
    """What ``gateway status`` shows, read from the spool folders and the forwarders' status
    files: it works whether or not the gateway runs."""

    ae_title: str
    queues: tuple[QueueStatus, ...]  # one per destination, in configuration order
    quarantine_dir: Path
    quarantined: int  # instances the scan found weaponised, never forwarded
    dead_dir: Path

    @property
    def dead_letters(self) -> int:
        return sum(q.dead_letters for q in self.queues)


def status(config: GatewayConfig) -> GatewayStatus:
    """Queue depth, oldest waiting item, dead letters and failures per destination, and what
    is in quarantine."""
    from pacsguard.gateway.forward import queue_status

    spool = config.gateway.spool_dir
    queues = tuple(queue_status(spool, [d.name for d in config.destination]))
    quarantine = spool / "quarantine"
    held = sum(1 for _ in quarantine.iterdir()) if quarantine.is_dir() else 0
    return GatewayStatus(config.gateway.ae_title, queues, quarantine, held, spool / "dead")
