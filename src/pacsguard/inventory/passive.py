"""Passive discovery: the machines that made the recorded images (docs/inventory.md).

Every ledger entry carries the equipment facts of its image (Manufacturer, Manufacturer's Model
Name, Software Versions, Device Serial Number, Station Name, Institution Name, Modality).
``sync`` folds the entries appended since the last sync into the ``machines`` tables, in leaf
order, inside one transaction per batch that also moves the sync position: an interrupted
sync resumes where it stopped and never counts an image twice.

Identity: a machine is (vendor, model, serial number) when the images carry a serial number,
else (vendor, model, station name, institution). Vendor is the canonical vendor
(``products.vendors``), so "GE MEDICAL SYSTEMS" and "GE Healthcare" images from one scanner
are one machine. Images with no manufacturer, model or station name belong to no machine;
they are counted as unattributed.

Versions: ``machines.software_versions`` is the value on the newest entry. A value the machine
has never shown before, after it had shown another, is a patch event (``machine_events``),
upward, downward or unknown by comparing the version tokens. Order is ledger order, which is
recording order: an archive recorded out of acquisition order can show a downgrade that was
really the older images arriving late; the event keeps the leaf index so it can be checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.dicom.equipment import Equipment
from pacsguard.errors import LedgerError, StoreError
from pacsguard.integrity.entry import LedgerEntry
from pacsguard.inventory.machines import Direction, MachineSource
from pacsguard.products.vendors import canonical_vendor, vendor_key
from pacsguard.products.versions import compare_versions, version_candidates
from pacsguard.store.engine import advisory_lock, inserted_id
from pacsguard.store.schema import (
    entries,
    inventory_state,
    machine_events,
    machine_versions,
    machines,
    receipts,
)

_PG_LOCK_KEY = 0x696E7631  # "inv1": serialises inventory syncs on PostgreSQL
NEXT_LEAF = "passive.next_leaf"
NEXT_RECEIPT = "passive.next_receipt"
UNATTRIBUTED = "passive.unattributed_images"
SEP = "\\"  # DICOM's value separator, for multi-valued Software Versions and modality lists


def machine_identity(eq: Equipment) -> tuple[str, ...] | None:
    """The tuple that names one physical machine, or None when the image names none."""
    vendor = vendor_key(eq.manufacturer) if eq.manufacturer.strip() else ""
    model = " ".join(eq.model.split()).casefold()
    station = " ".join(eq.station_name.split()).casefold()
    if not (vendor or model or station):
        return None
    serial = eq.serial_number.strip()
    if serial:
        return ("serial", vendor, model, serial)
    return ("station", vendor, model, station, " ".join(eq.institution.split()).casefold())


def machine_key(identity: tuple[str, ...]) -> str:
    return hashlib.sha256("\x1f".join(identity).encode()).hexdigest()


def version_direction(old: str, new: str) -> Direction:
    """Up, down or unknown: the first comparable version tokens of two Software Versions."""
    a = version_candidates([v for v in old.split(SEP) if v])
    b = version_candidates([v for v in new.split(SEP) if v])
    if a and b:
        c = compare_versions(a[0], b[0])
        if c is not None and c != 0:
            return Direction.UP if c < 0 else Direction.DOWN
    return Direction.UNKNOWN


@dataclass
class _Version:
    first: str
    last: str
    count: int
    leaf: int  # the first entry that showed it


@dataclass
class _Seen:
    """What one batch of entries says about one machine."""

    equipment: Equipment
    first: str
    last: str
    count: int = 0
    modalities: set[str] = field(default_factory=set)
    # Software Versions value -> when it was seen, in order of first appearance
    versions: dict[str, _Version] = field(default_factory=dict)
    newest_versions: str = ""


@dataclass(frozen=True)
class SyncReport:
    """What one sync folded in."""

    entries: int = 0  # ledger entries read
    new_machines: int = 0
    events: int = 0  # software version changes (patch events)
    unattributed: int = 0  # images that name no machine
    next_leaf: int = 0  # where the next sync starts


def _state(conn: Connection, key: str) -> int:
    v = conn.execute(select(inventory_state.c.value).where(inventory_state.c.key == key)
                     ).scalar()
    return int(v) if v is not None else 0


def _set_state(conn: Connection, key: str, value: int) -> None:
    done = conn.execute(update(inventory_state).where(inventory_state.c.key == key)
                        .values(value=str(value)))
    if done.rowcount == 0:
        conn.execute(inventory_state.insert().values(key=key, value=str(value)))


def sync(engine: Engine, batch: int = 20000) -> SyncReport:
    """Fold every ledger entry not yet seen into the inventory; return what changed."""
    done = SyncReport()
    try:
        while True:
            with engine.begin() as conn:
                advisory_lock(conn, _PG_LOCK_KEY)
                start = _state(conn, NEXT_LEAF)
                rows = conn.execute(
                    select(entries.c.leaf_index, entries.c.entry)
                    .where(entries.c.leaf_index >= start)
                    .order_by(entries.c.leaf_index).limit(batch)
                ).all()
                if not rows:
                    _sync_receipts(conn)
                    return replace(done, next_leaf=start)
                seen, unattributed = _fold([(int(i), bytes(raw)) for i, raw in rows])
                new, events = _write(conn, seen)
                done = SyncReport(done.entries + len(rows), done.new_machines + new,
                                  done.events + events, done.unattributed + unattributed,
                                  int(rows[-1][0]) + 1)
                _set_state(conn, NEXT_LEAF, done.next_leaf)
                _set_state(conn, UNATTRIBUTED, _state(conn, UNATTRIBUTED) + unattributed)
    except SQLAlchemyError as exc:
        raise StoreError(f"could not update the inventory: {getattr(exc, 'orig', exc)}"
                         ) from None


def _sync_receipts(conn: Connection) -> None:
    """Name each machine's sender as the gateway saw it: the calling AE title and IP address
    of the newest receipt for one of its images (receipts newer than the last sync)."""
    start = _state(conn, NEXT_RECEIPT)
    rows = conn.execute(
        select(receipts.c.id, receipts.c.leaf_index, receipts.c.calling_aet,
               receipts.c.address, entries.c.entry)
        .select_from(receipts.join(entries, entries.c.leaf_index == receipts.c.leaf_index))
        .where(receipts.c.id >= start).order_by(receipts.c.id)
    ).all()
    if not rows:
        return
    latest: dict[str, tuple[str, str]] = {}
    for _, _, aet, address, raw in rows:
        try:
            identity = machine_identity(LedgerEntry.decode(bytes(raw)).fingerprint.equipment)
        except LedgerError:
            continue  # verify reports a damaged entry; a hint is not worth failing for
        if identity is not None:
            latest[machine_key(identity)] = (aet, address)
    for key, (aet, address) in latest.items():
        conn.execute(update(machines).where(machines.c.machine_key == key)
                     .values(calling_aet=aet, address=address))
    _set_state(conn, NEXT_RECEIPT, int(rows[-1][0]) + 1)


def _fold(rows: Sequence[tuple[int, bytes]]) -> tuple[dict[str, _Seen], int]:
    seen: dict[str, _Seen] = {}
    unattributed = 0
    for leaf, raw in rows:
        try:
            entry = LedgerEntry.decode(raw)
        except LedgerError as exc:
            raise LedgerError(f"ledger leaf {leaf}: {exc}; run 'pacsguard verify' to check "
                              "the ledger") from None
        if entry.kind != "record":  # a superseding version of an image already counted
            continue
        eq = entry.fingerprint.equipment
        identity = machine_identity(eq)
        if identity is None:
            unattributed += 1
            continue
        key = machine_key(identity)
        at = entry.recorded_at
        s = seen.get(key)
        if s is None:
            s = seen[key] = _Seen(eq, at, at)
        s.equipment = eq
        s.first = min(s.first, at)
        s.last = max(s.last, at)
        s.count += 1
        if eq.modality:
            s.modalities.add(eq.modality)
        sv = SEP.join(eq.software_versions)
        v = s.versions.get(sv)
        if v is None:
            s.versions[sv] = _Version(at, at, 1, leaf)
        else:
            v.last = max(v.last, at)
            v.count += 1
        s.newest_versions = sv
    return seen, unattributed


def _write(conn: Connection, seen: dict[str, _Seen]) -> tuple[int, int]:
    """Merge one batch into the tables; return (new machines, patch events)."""
    new = events = 0
    existing: dict[str, dict[str, Any]] = {}
    keys = list(seen)
    for i in range(0, len(keys), 500):
        for found in conn.execute(select(machines).where(machines.c.machine_key
                                                         .in_(keys[i : i + 500]))).mappings():
            existing[found["machine_key"]] = dict(found)
    for key, s in seen.items():
        eq = s.equipment
        row = existing.get(key)
        if row is None:
            mid = inserted_id(conn.execute(machines.insert().values(
                machine_key=key, vendor=canonical_vendor(eq.manufacturer),
                manufacturer=eq.manufacturer,
                model=eq.model, serial_number=eq.serial_number, station_name=eq.station_name,
                institution=eq.institution, modalities=SEP.join(sorted(s.modalities)),
                software_versions=s.newest_versions, first_seen=s.first, last_seen=s.last,
                image_count=s.count, source=MachineSource.PASSIVE,
            )))
            known: dict[str, dict[str, object]] = {}
            current: str | None = None
            new += 1
        else:
            mid = row["id"]
            mods = set(filter(None, str(row["modalities"]).split(SEP))) | s.modalities
            conn.execute(update(machines).where(machines.c.id == mid).values(
                station_name=eq.station_name or row["station_name"],
                institution=eq.institution or row["institution"],
                modalities=SEP.join(sorted(mods)), software_versions=s.newest_versions,
                first_seen=min(str(row["first_seen"]), s.first),
                last_seen=max(str(row["last_seen"]), s.last),
                image_count=int(row["image_count"]) + s.count,
            ))
            known = {str(r["software_versions"]): dict(r) for r in conn.execute(
                select(machine_versions).where(machine_versions.c.machine_id == mid)).mappings()}
            current = str(row["software_versions"])
        for sv, v in s.versions.items():
            k = known.get(sv)
            if k is None:
                conn.execute(machine_versions.insert().values(
                    machine_id=mid, software_versions=sv, first_seen=v.first, last_seen=v.last,
                    image_count=v.count, first_leaf=v.leaf))
                if current is not None and current != sv:
                    conn.execute(machine_events.insert().values(
                        machine_id=mid, at=v.first, kind="version_change",
                        from_versions=current, to_versions=sv,
                        direction=version_direction(current, sv), leaf_index=v.leaf))
                    events += 1
            else:
                conn.execute(update(machine_versions).where(
                    (machine_versions.c.machine_id == mid)
                    & (machine_versions.c.software_versions == sv)).values(
                    last_seen=max(str(k["last_seen"]), v.last),
                    image_count=int(str(k["image_count"])) + v.count))
            current = sv
    return new, events
