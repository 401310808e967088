"""CSV (RFC 4180 quoting, "\\n" line ends): a header row of the listing's column headers, then
one row per row with each cell in full (lists joined with "; ")."""

from __future__ import annotations

import csv
import io

from pacsguard.render.cells import cell
from pacsguard.render.interface import Listing


class CsvRenderer:
    def render(self, listing: Listing) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow([c.header for c in listing.columns])
        for r in listing.rows:
            w.writerow([cell(r.get(c.key)) for c in listing.columns])
        return out.getvalue()
