"""``pacsguard inventory``: the machines found in the recorded images."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pacsguard.cli.common import DataDir, err_console, friendly, workspace
from pacsguard.cli.output import Wide, check_format, emit
from pacsguard.errors import ConfigError

if TYPE_CHECKING:
    from pacsguard.app.inventory import Discovery, MachineHistory, MachineList
    from pacsguard.inventory.passive import SyncReport
    from pacsguard.inventory.register import ImportReport

# The application layer (SQLAlchemy, the ledger) is imported inside the commands: listing
# the commands, or running another one, does not pay for it.

app = typer.Typer(help="Equipment inventory: every machine seen in the recorded images.",
                  no_args_is_help=True)

Format = Annotated[str, typer.Option("--format", help="table, json (one object per line) or "
                                     "csv")]
NoSync = Annotated[bool, typer.Option("--no-sync", help="Do not fold newly recorded images "
                                      "into the inventory first.")]

COLUMNS = [("id", "id"), ("vendor", "vendor"), ("model", "model"),
           ("serial_number", "serial"), ("station_name", "station"),
           ("institution", "institution"), ("modalities", "modalities"),
           ("software_versions", "software versions"), ("first_seen", "first seen"),
           ("last_seen", "last seen"), ("image_count", "images"), ("source", "source"),
           ("calling_aet", "calling AE"), ("address", "address")]


def render_sync(report: SyncReport) -> None:
    """The line a command that syncs first says on standard error when the sync folded
    anything in (the ``on_sync`` of the application layer's use cases)."""
    if report.entries:
        err_console.print(f"inventory: {report.entries} new ledger entries folded in, "
                          f"{report.new_machines} new machines, {report.events} version "
                          "changes", highlight=False)


@app.command("sync", short_help="Fold newly recorded images into the inventory.")
@friendly
def sync_cmd(data_dir: DataDir = None) -> None:
    """Fold images recorded since the last sync into the inventory."""
    from pacsguard.app.inventory import sync

    _render_synced(sync(workspace(data_dir)))


def _render_synced(r: SyncReport) -> None:
    print(f"{r.entries} ledger entries folded in; {r.new_machines} new machines; "
          f"{r.events} version changes; {r.unattributed} images name no machine; "
          f"next leaf {r.next_leaf}")


@app.command("list", short_help="List every machine found in the recorded images.")
@friendly
def list_cmd(data_dir: DataDir = None, output_format: Format = "table",
             no_sync: NoSync = False, wide: Wide = False) -> None:
    """List every machine: identity, software versions, first and last seen, image count."""
    from pacsguard.app.inventory import list_machines

    check_format(output_format)
    found = list_machines(workspace(data_dir), sync=not no_sync, on_sync=render_sync)
    _render_machines(found, output_format, wide)


def _render_machines(found: MachineList, output_format: str, wide: bool) -> None:
    rows = [dataclasses.asdict(m) | {"label": m.label} for m in found.machines]
    emit(rows, COLUMNS, output_format, title=f"{len(rows)} machines",
         table_columns=["id", ("label", "machine"), "modalities", "software_versions",
                        "last_seen", "image_count"],
         wide_columns=["id", "vendor", "model", "serial_number", "station_name",
                       "institution", "modalities", "software_versions", "first_seen",
                       "last_seen", "image_count", "source"], wide=wide)
    if output_format == "table" and found.unattributed:
        err_console.print(f"{found.unattributed} recorded images name no manufacturer, model "
                          "or station and belong to no machine")


@app.command("show", short_help="One machine's software versions and patch events.")
@friendly
def show_cmd(machine_id: Annotated[int, typer.Argument(help="The machine's id (inventory "
                                                        "list).")],
             data_dir: DataDir = None, output_format: Format = "table") -> None:
    """One machine: its software version history and patch events."""
    from pacsguard.app.inventory import show_machine

    check_format(output_format)
    _render_history(show_machine(workspace(data_dir), machine_id, on_sync=render_sync),
                    output_format)


def _render_history(h: MachineHistory, output_format: str) -> None:
    rows = [{"kind": "version", "software_versions": s.software_versions,
             "first_seen": s.first_seen, "last_seen": s.last_seen, "images": s.image_count}
            for s in h.versions]
    rows += [{"kind": f"change ({e.direction})", "software_versions": e.to_versions,
              "first_seen": e.at, "from": e.from_versions, "leaf": e.leaf_index}
             for e in h.events]
    emit(rows, [("kind", "what"), ("software_versions", "software versions"),
                ("from", "from"), ("first_seen", "first seen"), ("last_seen", "last seen"),
                ("images", "images"), ("leaf", "ledger leaf")],
         output_format, title=h.machine.label)


@app.command("export", short_help="Write the asset register as CSV.")
@friendly
def export_cmd(output: Annotated[Path, typer.Argument(help="CSV file to write ('-' for "
                                                        "standard output).")],
               data_dir: DataDir = None, no_sync: NoSync = False) -> None:
    """Write the asset register as CSV: every machine, its discovered facts and its manual
    fields (location, owner, supplier, support end, operating system and its end of life,
    network segment, notes), ready to edit and import back."""
    from pacsguard.app.inventory import export_register

    text = export_register(workspace(data_dir), sync=not no_sync, on_sync=render_sync)
    if str(output) == "-":
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {output}: {exc.strerror}") from None
    err_console.print(f"wrote {output}", highlight=False)


@app.command("import", short_help="Merge manual facts from an asset register CSV.")
@friendly
def import_cmd(source: Annotated[Path, typer.Argument(help="Asset register CSV (the shape "
                                                        "'inventory export' writes).")],
               data_dir: DataDir = None) -> None:
    """Merge manual facts from an asset register CSV. An empty cell keeps the stored value,
    '-' clears it; discovered facts are never overwritten; a bad row rejects the whole file."""
    from pacsguard.app.inventory import import_register

    _render_register_import(import_register(workspace(data_dir), source))


def _render_register_import(r: ImportReport) -> None:
    print(f"{r.updated} machines updated, {r.created} new machines created from the register, "
          f"{r.unchanged} unchanged")


@friendly
def discover_cmd(
    targets: Annotated[list[str], typer.Argument(help="HOST:PORT of each DICOM node to ask "
                                                 "(only these are contacted).")],
    called_aet: Annotated[str, typer.Option(help="Called AE title to ask for.")] = "ANY-SCP",
    tls_port: Annotated[int | None, typer.Option(help="Also look for TLS on this port "
                                                 "(default: the target's own).")] = None,
    timeout: Annotated[float, typer.Option(min=0.5, max=60, help="Seconds per step.")] = 5.0,
    data_dir: DataDir = None, output_format: Format = "table",
) -> None:
    """Ask named DICOM nodes who they are: association and C-ECHO (is any calling AE title
    accepted?), implementation class UID and version, TLS; record them in the inventory."""
    from pacsguard.app.inventory import discover

    check_format(output_format)
    found = discover(workspace(data_dir), targets, called_aet, timeout, tls_port)
    _render_discovery(found, output_format)
    if not found.all_reachable:
        sys.exit(1)


def _render_discovery(found: Discovery, output_format: str) -> None:
    rows = [dataclasses.asdict(n.probe) | {"machine_id": n.machine_id, "findings": n.findings}
            for n in found.nodes]
    emit(rows, [("target", "target"), ("accepted", "accepted"),
                ("any_calling_aet", "any calling AE"), ("implementation", "implementation"),
                ("version", "version"), ("implementation_class_uid", "class UID"),
                ("implementation_version_name", "version name"), ("echo_status", "C-ECHO"),
                ("tls", "TLS"), ("tls_detail", "TLS detail"), ("findings", "findings"),
                ("machine_id", "machine id")],
         output_format, title=f"{len(rows)} DICOM nodes asked",
         table_columns=["target", "accepted", "implementation", "version", "tls", "findings"])
