"""Reading the inventory: machines, their version history and patch events."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, select

from pacsguard.store.schema import inventory_state, machine_events, machine_versions, machines

SEP = "\\"


class MachineSource(StrEnum):
    """How a machine came into the inventory; stored as ``machines.source``.

    The inventory's read model (:class:`Machine`, :class:`VersionEvent`) carries coded values
    as stored, as plain strings: a value this version does not know (a database shared with a
    newer pacsguard) is shown as it is, never a failure to read."""

    PASSIVE = "passive"  # its images were recorded (inventory/passive.py)
    ACTIVE = "active"  # it answered a probe (inventory/active.py, assess)
    MANUAL = "manual"  # a row of the asset register named it (inventory/register.py)


class Direction(StrEnum):
    """Which way a machine's software version changed (a patch event)."""

    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"  # the versions do not compare


@dataclass(frozen=True)
class Machine:
    id: int
    vendor: str
    manufacturer: str
    model: str
    serial_number: str
    station_name: str
    institution: str
    modalities: tuple[str, ...]
    software_versions: tuple[str, ...]
    first_seen: str
    last_seen: str
    image_count: int
    source: str  # a MachineSource value, as stored
    calling_aet: str = ""  # the sender as the gateway saw it
    address: str = ""

    @property
    def label(self) -> str:
        """How a person names it: vendor, model, and serial or station."""
        where = (f"SN {self.serial_number}" if self.serial_number else
                 self.station_name or self.institution or "no serial/station")
        return f"{self.vendor or '?'} {self.model or '?'} ({where})"


@dataclass(frozen=True)
class VersionSeen:
    software_versions: tuple[str, ...]
    first_seen: str
    last_seen: str
    image_count: int


@dataclass(frozen=True)
class VersionEvent:
    at: str
    from_versions: tuple[str, ...]
    to_versions: tuple[str, ...]
    direction: str  # a Direction value, as stored
    leaf_index: int | None


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(SEP) if v)


def list_machines(engine: Engine) -> list[Machine]:
    m = machines.c
    with engine.connect() as conn:
        rows = conn.execute(select(machines).order_by(m.vendor, m.model, m.serial_number,
                                                      m.station_name, m.id)).mappings().all()
    return [Machine(int(r["id"]), r["vendor"], r["manufacturer"], r["model"],
                    r["serial_number"], r["station_name"], r["institution"],
                    _split(r["modalities"]), _split(r["software_versions"]), r["first_seen"],
                    r["last_seen"], int(r["image_count"]), r["source"],
                    r["calling_aet"] or "", r["address"] or "") for r in rows]


def version_history(engine: Engine, machine_id: int) -> tuple[list[VersionSeen],
                                                              list[VersionEvent]]:
    v, e = machine_versions.c, machine_events.c
    with engine.connect() as conn:
        seen = [VersionSeen(_split(r[0]), r[1], r[2], int(r[3])) for r in conn.execute(
            select(v.software_versions, v.first_seen, v.last_seen, v.image_count)
            .where(v.machine_id == machine_id).order_by(v.first_leaf))]
        events = [VersionEvent(r[0], _split(r[1]), _split(r[2]), r[3],
                               int(r[4]) if r[4] is not None else None)
                  for r in conn.execute(
                      select(e.at, e.from_versions, e.to_versions, e.direction, e.leaf_index)
                      .where(e.machine_id == machine_id).order_by(e.id))]
    return seen, events


def unattributed_images(engine: Engine) -> int:
    with engine.connect() as conn:
        v = conn.execute(select(inventory_state.c.value).where(
            inventory_state.c.key == "passive.unattributed_images")).scalar()
    return int(v) if v is not None else 0
