"""Inventory use cases (docs/inventory.md): fold newly recorded images into the inventory, list
the machines and show one, write the asset register out and read it back, and ask named DICOM
nodes who they are.

The use cases that read the inventory bring it up to date first (``sync=False`` skips that);
``on_sync`` hears what the sync folded in before anything else happens, so a caller can say so
even if what follows fails. :func:`synced_engine` does the same for the other use cases of this
layer (alerts, patch status).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from pacsguard.errors import ConfigError
from pacsguard.inventory import active, machines, passive, register
from pacsguard.inventory.active import Probe
from pacsguard.inventory.machines import Machine, VersionEvent, VersionSeen
from pacsguard.inventory.passive import SyncReport
from pacsguard.inventory.register import ImportReport
from pacsguard.workspace import Workspace

#: Hears what a sync folded in (called once, right after the sync)
OnSync = Callable[[SyncReport], None]


def synced_engine(ws: Workspace, *, sync: bool = True, on_sync: OnSync | None = None
                  ) -> Engine:
    """The ledger database of ``ws``, with the inventory brought up to date unless ``sync`` is
    False."""
    ledger, _, _ = ws.open_ledger()
    if sync:
        report = passive.sync(ledger.engine)
        if on_sync is not None:
            on_sync(report)
    return ledger.engine


def sync(ws: Workspace) -> SyncReport:
    """Fold the images recorded since the last sync into the inventory."""
    ledger, _, _ = ws.open_ledger()
    return passive.sync(ledger.engine)


@dataclass(frozen=True)
class MachineList:
    machines: tuple[Machine, ...]  # by vendor, model, serial number, station
    unattributed: int  # recorded images that name no manufacturer, model or station


def list_machines(ws: Workspace, *, sync: bool = True, on_sync: OnSync | None = None
                  ) -> MachineList:
    """Every machine found in the recorded images (and the asset register, and probes)."""
    engine = synced_engine(ws, sync=sync, on_sync=on_sync)
    return MachineList(tuple(machines.list_machines(engine)),
                       machines.unattributed_images(engine))


@dataclass(frozen=True)
class MachineHistory:
    machine: Machine
    versions: tuple[VersionSeen, ...]  # each Software Versions value, in order first seen
    events: tuple[VersionEvent, ...]  # the patch events, oldest first


def show_machine(ws: Workspace, machine_id: int, *, on_sync: OnSync | None = None
                 ) -> MachineHistory:
    """One machine: its software version history and patch events (after a sync)."""
    engine = synced_engine(ws, on_sync=on_sync)
    found = [m for m in machines.list_machines(engine) if m.id == machine_id]
    if not found:
        raise ConfigError(f"no machine with id {machine_id}; 'pacsguard inventory list' "
                          "shows the ids")
    seen, events = machines.version_history(engine, machine_id)
    return MachineHistory(found[0], tuple(seen), tuple(events))


def export_register(ws: Workspace, *, sync: bool = True, on_sync: OnSync | None = None
                    ) -> str:
    """The asset register as CSV text: every machine, its discovered facts and its manual
    fields, in the shape :func:`import_register` reads back."""
    return register.export_csv(synced_engine(ws, sync=sync, on_sync=on_sync))


def import_register(ws: Workspace, source: Path) -> ImportReport:
    """Merge the manual facts of an asset register CSV file: all rows or none."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    ledger, _, _ = ws.open_ledger()
    return register.import_csv(ledger.engine, data, str(source))


@dataclass(frozen=True)
class Node:
    """One DICOM node asked, and the machine it is in the inventory (None: it did not say
    who it is)."""

    probe: Probe
    machine_id: int | None

    @property
    def findings(self) -> tuple[str, ...]:
        return tuple(self.probe.findings())


@dataclass(frozen=True)
class Discovery:
    nodes: tuple[Node, ...]  # in the order the targets were given

    @property
    def all_reachable(self) -> bool:
        return all(n.probe.reachable for n in self.nodes)


def discover(ws: Workspace, targets: Sequence[str], called_aet: str = "ANY-SCP",
             timeout: float = 5.0, tls_port: int | None = None) -> Discovery:
    """Ask each named node who it is (inventory/active.py) and record it. Every target is
    checked before any is contacted: one that is not exactly one host and one port refuses
    them all."""
    parsed = [active.parse_target(t) for t in targets]
    ledger, _, _ = ws.open_ledger()
    nodes = []
    for t in parsed:
        p = active.probe(t, called_aet, timeout, tls_port)
        nodes.append(Node(p, active.remember(ledger.engine, p)))
    return Discovery(tuple(nodes))
