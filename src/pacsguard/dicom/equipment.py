"""The equipment an image names: what the ledger, the inventory and the advisory matcher all
speak of (PS3.3 C.7.5.1 General Equipment module)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Equipment:
    """The facts an image tells about the machine that made it (PS3.3 C.7.5.1)."""

    manufacturer: str = ""
    model: str = ""
    software_versions: tuple[str, ...] = ()
    serial_number: str = ""
    station_name: str = ""
    institution: str = ""
    modality: str = ""
