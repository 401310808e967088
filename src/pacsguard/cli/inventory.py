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
    from sqlalchemy import Engine

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


def synced_engine(data_dir: DataDir, no_sync: bool = False) -> Engine:
    """The database engine, with the inventory brought up to date unless told not to."""
    from pacsguard.inventory.passive import sync

    ledger, _, _ = workspace(data_dir).open_ledger()
    if not no_sync:
        report = sync(ledger.engine)
        if report.entries:
            err_console.print(f"inventory: {report.entries} new ledger entries folded in, "
                              f"{report.new_machines} new machines, {report.events} version "
                              "changes", highlight=False)
    return ledger.engine


@app.command("sync", short_help="Fold newly recorded images into the inventory.")
@friendly
def sync_cmd(data_dir: DataDir = None) -> None:
    """Fold images recorded since the last sync into the inventory."""
    from pacsguard.inventory.passive import sync

    ledger, _, _ = workspace(data_dir).open_ledger()
    r = sync(ledger.engine)
    print(f"{r.entries} ledger entries folded in; {r.new_machines} new machines; "
          f"{r.events} version changes; {r.unattributed} images name no machine; "
          f"next leaf {r.next_leaf}")


@app.command("list", short_help="List every machine found in the recorded images.")
@friendly
def list_cmd(data_dir: DataDir = None, output_format: Format = "table",
             no_sync: NoSync = False, wide: Wide = False) -> None:
    """List every machine: identity, software versions, first and last seen, image count."""
    from pacsguard.inventory.machines import list_machines, unattributed_images

    check_format(output_format)
    engine = synced_engine(data_dir, no_sync)
    rows = [dataclasses.asdict(m) | {"label": m.label} for m in list_machines(engine)]
    emit(rows, COLUMNS, output_format, title=f"{len(rows)} machines",
         table_columns=["id", ("label", "machine"), "modalities", "software_versions",
                        "last_seen", "image_count"],
         wide_columns=["id", "vendor", "model", "serial_number", "station_name",
                       "institution", "modalities", "software_versions", "first_seen",
                       "last_seen", "image_count", "source"], wide=wide)
    if output_format == "table":
        n = unattributed_images(engine)
        if n:
            err_console.print(f"{n} recorded images name no manufacturer, model or station "
                              "and belong to no machine")


@app.command("show", short_help="One machine's software versions and patch events.")
@friendly
def show_cmd(machine_id: Annotated[int, typer.Argument(help="The machine's id (inventory "
                                                        "list).")],
             data_dir: DataDir = None, output_format: Format = "table") -> None:
    """One machine: its software version history and patch events."""
    from pacsguard.inventory.machines import list_machines, version_history

    check_format(output_format)
    engine = synced_engine(data_dir)
    found = [m for m in list_machines(engine) if m.id == machine_id]
    if not found:
        raise ConfigError(f"no machine with id {machine_id}; 'pacsguard inventory list' "
                          "shows the ids")
    seen, events = version_history(engine, machine_id)
    rows = [{"kind": "version", "software_versions": s.software_versions,
             "first_seen": s.first_seen, "last_seen": s.last_seen, "images": s.image_count}
            for s in seen]
    rows += [{"kind": f"change ({e.direction})", "software_versions": e.to_versions,
              "first_seen": e.at, "from": e.from_versions, "leaf": e.leaf_index}
             for e in events]
    emit(rows, [("kind", "what"), ("software_versions", "software versions"),
                ("from", "from"), ("first_seen", "first seen"), ("last_seen", "last seen"),
                ("images", "images"), ("leaf", "ledger leaf")],
         output_format, title=found[0].label)


@app.command("export", short_help="Write the asset register as CSV.")
@friendly
def export_cmd(output: Annotated[Path, typer.Argument(help="CSV file to write ('-' for "
                                                        "standard output).")],
               data_dir: DataDir = None, no_sync: NoSync = False) -> None:
    """Write the asset register as CSV: every machine, its discovered facts and its manual
    fields (location, owner, supplier, support end, operating system and its end of life,
    network segment, notes), ready to edit and import back."""
    from pacsguard.inventory.register import export_csv

    text = export_csv(synced_engine(data_dir, no_sync))
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
    from pacsguard.inventory.register import import_csv

    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None
    ledger, _, _ = workspace(data_dir).open_ledger()
    r = import_csv(ledger.engine, data, str(source))
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
    from pacsguard.inventory.active import parse_target, probe, remember

    check_format(output_format)
    parsed = [parse_target(t) for t in targets]  # all refused before any is contacted
    ledger, _, _ = workspace(data_dir).open_ledger()
    rows = []
    for t in parsed:
        p = probe(t, called_aet, timeout, tls_port)
        mid = remember(ledger.engine, p)
        rows.append(dataclasses.asdict(p) | {"machine_id": mid, "findings": p.findings()})
    emit(rows, [("target", "target"), ("accepted", "accepted"),
                ("any_calling_aet", "any calling AE"), ("implementation", "implementation"),
                ("version", "version"), ("implementation_class_uid", "class UID"),
                ("implementation_version_name", "version name"), ("echo_status", "C-ECHO"),
                ("tls", "TLS"), ("tls_detail", "TLS detail"), ("findings", "findings"),
                ("machine_id", "machine id")],
         output_format, title=f"{len(rows)} DICOM nodes asked",
         table_columns=["target", "accepted", "implementation", "version", "tls", "findings"])
    if any(not r["reachable"] for r in rows):
        sys.exit(1)
