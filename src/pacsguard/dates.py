"""Dates and times: calendar dates typed by people (decisions, the asset register: YYYY-MM-DD,
real days) and the UTC timestamps pacsguard writes (``2026-12-04T20:30:00Z``)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_iso_date(text: str) -> bool:
    """YYYY-MM-DD and a day that exists (2025-02-29 does not)."""
    if not _ISO_DAY.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def utc_now() -> str:
    """Now, in UTC, to the second, as every table and entry of pacsguard writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
