"""JSON lines: one object per row with every key the row has (not only the listing's
columns), non-ASCII text as it is, values JSON does not know (dates, paths) as their text."""

from __future__ import annotations

import json

from pacsguard.render.interface import Listing


class JsonLinesRenderer:
    def render(self, listing: Listing) -> str:
        return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n"
                       for r in listing.rows)
