"""The asset register: what people know about a machine that its images do not say.

Manual fields (location, owner, supplier, support contract end, operating system and its
end-of-life date, network segment, notes) live in ``machine_register``, a table discovery never
writes, so no sync or re-discovery can lose a manual edit. ``export_csv`` writes every machine
with its discovered facts and its manual fields; ``import_csv`` reads the same shape back:

* a row with ``id`` updates that machine; a row without one is matched by identity
  (manufacturer, model, serial number, or station and institution, as discovery does) and,
  if no machine has it, creates a ``manual`` machine (equipment not yet seen in any image);
* an empty cell keeps what is stored (so an old export re-imported cannot blank a newer edit);
  ``-`` clears the field;
* discovered columns (software versions, first/last seen, images, modalities, source) are
  read-only: they are accepted and ignored;
* unknown columns, bad dates (YYYY-MM-DD) or an unknown id reject the whole file, naming the
  row; nothing of a rejected file is stored.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.dates import is_iso_date, utc_now
from pacsguard.dicom.equipment import Equipment
from pacsguard.errors import ConfigError, StoreError
from pacsguard.inventory.machines import MachineSource, list_machines
from pacsguard.inventory.passive import machine_identity, machine_key
from pacsguard.products.vendors import canonical_vendor
from pacsguard.store.engine import inserted_id
from pacsguard.store.schema import machine_register, machines

MANUAL = ("location", "owner", "supplier", "support_end", "operating_system", "os_end_of_life",
          "network_segment", "notes")
DATES = frozenset({"support_end", "os_end_of_life"})
IDENTITY = ("manufacturer", "model", "serial_number", "station_name", "institution")
READ_ONLY = ("vendor", "modalities", "software_versions", "first_seen", "last_seen",
             "image_count", "source")
COLUMNS = ("id", *IDENTITY, *READ_ONLY, *MANUAL)
CLEAR = "-"


@dataclass(frozen=True)
class RegisterEntry:
    machine_id: int
    location: str = ""
    owner: str = ""
    supplier: str = ""
    support_end: str = ""
    operating_system: str = ""
    os_end_of_life: str = ""
    network_segment: str = ""
    notes: str = ""


def register_entries(engine: Engine) -> dict[int, RegisterEntry]:
    with engine.connect() as conn:
        rows = conn.execute(select(machine_register)).mappings().all()
    return {int(r["machine_id"]): RegisterEntry(int(r["machine_id"]), *(r[k] for k in MANUAL))
            for r in rows}


def export_csv(engine: Engine) -> str:
    reg = register_entries(engine)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for m in list_machines(engine):
        e = reg.get(m.id, RegisterEntry(m.id))
        w.writerow([_cell(v) for v in (
            m.id, m.manufacturer, m.model, m.serial_number, m.station_name, m.institution,
            m.vendor, "\\".join(m.modalities), "\\".join(m.software_versions), m.first_seen,
            m.last_seen, m.image_count, m.source, *(getattr(e, k) for k in MANUAL))])
    return out.getvalue()


@dataclass(frozen=True)
class ImportReport:
    updated: int
    created: int
    unchanged: int


def _cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run: text from images (station, institution) that
    starts like a formula is prefixed with an apostrophe (OWASP CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and text != CLEAR \
        else text


def _uncell(text: str) -> str:
    """Undo ``_cell``'s apostrophe, so an exported register imports back unchanged."""
    return text[1:] if text.startswith("'") and text[1:2] in ("=", "+", "-", "@") else text


def _check(rows: list[dict[str, str]], source: str) -> None:
    for n, row in enumerate(rows, 2):  # row 1 is the header
        for k in DATES:
            v = row.get(k, "").strip()
            if v and v != CLEAR and not is_iso_date(v):
                raise ConfigError(f"{source}: row {n}: {k} {v!r} is not a date (YYYY-MM-DD)")
        mid = row.get("id", "").strip()
        if mid and not (mid.isascii() and mid.isdigit()):
            raise ConfigError(f"{source}: row {n}: id {mid!r} is not a machine id")
        if not mid and not any(row.get(k, "").strip() for k in ("manufacturer", "model",
                                                                 "station_name")):
            raise ConfigError(f"{source}: row {n}: no id and no manufacturer, model or "
                              "station name: cannot tell which machine it is")


def import_csv(engine: Engine, data: bytes, source: str) -> ImportReport:
    """Merge a register CSV; all rows or none."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ConfigError(f"{source}: empty file; the first row names the columns "
                          f"({', '.join(COLUMNS)})")
    unknown = [c for c in reader.fieldnames if c not in COLUMNS]
    if unknown:
        raise ConfigError(f"{source}: unknown column(s) {', '.join(unknown)}; allowed: "
                          f"{', '.join(COLUMNS)}")
    raw = list(reader)
    for n, r in enumerate(raw, 2):
        if None in r:
            raise ConfigError(f"{source}: row {n} has more cells than the header has columns")
    rows = [{k: _uncell(v or "") for k, v in r.items()} for r in raw]
    _check(rows, source)
    counts = {"updated": 0, "created": 0, "unchanged": 0}
    try:
        with engine.begin() as conn:
            for n, row in enumerate(rows, 2):
                created, updated = counts["created"], counts["updated"]
                mid = _machine_for(conn, row, source, n, counts)
                _merge(conn, mid, row, counts)
                if counts["created"] > created and counts["updated"] > updated:
                    counts["updated"] -= 1  # a new machine is "created", not also "updated"
    except SQLAlchemyError as exc:
        raise StoreError(f"could not import {source}: {getattr(exc, 'orig', exc)}") from None
    return ImportReport(counts["updated"], counts["created"], counts["unchanged"])


def _machine_for(conn: Connection, row: dict[str, str], source: str, n: int,
                 counts: dict[str, int]) -> int:
    mid = row.get("id", "").strip()
    if mid:
        if conn.execute(select(machines.c.id).where(machines.c.id == int(mid))).first() is None:
            raise ConfigError(f"{source}: row {n}: no machine with id {mid}")
        return int(mid)
    eq = Equipment(manufacturer=row.get("manufacturer", "").strip(),
                   model=row.get("model", "").strip(),
                   serial_number=row.get("serial_number", "").strip(),
                   station_name=row.get("station_name", "").strip(),
                   institution=row.get("institution", "").strip())
    identity = machine_identity(eq)
    assert identity is not None  # _check made sure
    key = machine_key(identity)
    found = conn.execute(select(machines.c.id).where(machines.c.machine_key == key)).scalar()
    if found is not None:
        return int(found)
    counts["created"] += 1
    return inserted_id(conn.execute(machines.insert().values(
        machine_key=key, vendor=canonical_vendor(eq.manufacturer) if eq.manufacturer else "",
        manufacturer=eq.manufacturer, model=eq.model, serial_number=eq.serial_number,
        station_name=eq.station_name, institution=eq.institution, modalities="",
        software_versions="", first_seen="", last_seen="", image_count=0,
        source=MachineSource.MANUAL)))


def _merge(conn: Connection, mid: int, row: dict[str, str], counts: dict[str, int]) -> None:
    stored = conn.execute(select(machine_register).where(machine_register.c.machine_id == mid)
                          ).first()
    old: dict[str, Any] = ({k: stored._mapping[k] for k in MANUAL} if stored is not None
                           else dict.fromkeys(MANUAL, ""))
    new = dict(old)
    for k in MANUAL:
        v = row.get(k, "").strip()
        if v == CLEAR:
            new[k] = ""
        elif v:
            new[k] = v
    if new == old:  # nothing to change (for a machine with no row: nothing to say)
        counts["unchanged"] += 1
        return
    if stored is None:
        conn.execute(machine_register.insert().values(machine_id=mid, updated_at=utc_now(),
                                                      **new))
    else:
        conn.execute(update(machine_register).where(machine_register.c.machine_id == mid)
                     .values(updated_at=utc_now(), **new))
    counts["updated"] += 1
