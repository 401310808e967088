"""CSV: the listing's headers, then each row's columns in full, quoted where RFC 4180 says."""

from __future__ import annotations

import csv
import io

from pacsguard.render.csv import CsvRenderer
from pacsguard.render.interface import Listing
from tests.render.samples import COLUMNS, ROWS


def test_the_columns_in_full_read_back_by_a_csv_reader() -> None:
    text = CsvRenderer().render(Listing.of(ROWS, COLUMNS, narrow=["id"]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [h for _, h in COLUMNS]
    assert rows[1][3] == "CVE-2021-27410; CVE-2021-27412; CVE-2021-27414"  # never shortened
    assert rows[2][1:] == ["needs review", "2026-01-02T00:00:00+00:00", "", "",
                           "vendor named, product \"Vue PACS\" unknown, Größe, 1,5 mm"]
    assert rows[3][4:] == ["4.2", ""]


def test_a_missing_key_is_an_empty_cell() -> None:
    assert CsvRenderer().render(Listing.of([{"id": 1}], [("id", "id"), ("x", "x")])) == (
        "id,x\n1,\n")
