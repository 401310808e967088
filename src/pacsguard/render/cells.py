"""A value as the text of a cell: in full (CSV, ``--wide``), or shortened for a table made
for 80 columns (issue #10 §7): a timestamp as its date, a long list of identifiers as its
first item and a count of the others; sentences stay whole."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
#: A list of identifiers longer than this shows its first and how many more (not with --wide).
LIST_CELL = 24


def cell(value: Any) -> str:
    """The whole value: nothing for None, a list joined with "; ", a float to one decimal."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def short_cell(value: Any) -> str:
    """A table cell for 80 columns: a timestamp as its date, a long list of identifiers (CVE
    ids, versions) as its first item and a count of the others; sentences stay whole."""
    if isinstance(value, list | tuple) and len(value) > 1:
        whole = cell(value)
        if len(whole) <= LIST_CELL or any(" " in str(v) for v in value):
            return whole
        return f"{value[0]} +{len(value) - 1} more"
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return value[:10]
    return cell(value)


def relative(path: str, roots: Sequence[Path]) -> str:
    """``path`` relative to the root it lies under (what the user typed), for a table cell."""
    for r in roots:
        base = str(r.resolve())
        if path.startswith(base + "/"):
            return path[len(base) + 1 :]
    return path
