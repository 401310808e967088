"""Calendar dates typed by people (decisions, the asset register): YYYY-MM-DD, real days."""

from __future__ import annotations

import re
from datetime import date

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
