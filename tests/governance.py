"""The governance fleet: two Vue PACS (one old, one new), a SPECT and an ISCV recorded from
images, five CISA advisories imported, the inventory synced; and the day the tests judge it on.

The ``governance_engine`` fixture of tests/conftest.py builds it on SQLite and on PostgreSQL;
the decision, review, patch-status, register and HTML report tests use it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from pacsguard.advisories.match import Match, match
from pacsguard.advisories.store import current_products
from pacsguard.inventory.machines import Machine, list_machines

ADVISORIES = ["icsma-21-187-01.json", "icsma-17-215-01.json", "icsma-18-025-01.json",
              "icsma-17-318-01.json", "icsma-18-226-01.json"]
TODAY = dt.date(2026, 11, 27)


def machine(engine: Engine, serial_or_station: str) -> Machine:
    return next(m for m in list_machines(engine)
                if serial_or_station in (m.serial_number, m.station_name))


def matches(engine: Engine) -> list[Match]:
    return match(current_products(engine), list_machines(engine))
