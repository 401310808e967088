"""JSON lines: one object per row with every key the row has (not only the listing's
columns), non-ASCII text as it is, values JSON does not know (dates, paths) as their text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pacsguard.render.interface import Listing


class JsonLinesRenderer:
    """``ascii``: non-ASCII text as \\u escapes (verify's findings, as they always were)."""

    def __init__(self, *, ascii: bool = False) -> None:
        self.ascii = ascii

    def render(self, listing: Listing) -> str:
        return "".join(self.line(r) for r in listing.rows)

    def line(self, row: Mapping[str, Any]) -> str:
        """One row's line, for a command that streams its rows as it finds them."""
        return json.dumps(row, ensure_ascii=self.ascii, default=str) + "\n"
