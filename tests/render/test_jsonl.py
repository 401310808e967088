"""JSON lines: one object per row, every key of the row whatever the columns, text as it is."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pacsguard.render.interface import Listing
from pacsguard.render.jsonl import JsonLinesRenderer
from tests.render.samples import COLUMNS, ROWS


def test_every_row_is_one_line_with_every_key_it_has() -> None:
    text = JsonLinesRenderer().render(Listing.of(ROWS, COLUMNS[:1]))
    assert [json.loads(line) for line in text.splitlines()] == ROWS
    assert text.endswith("\n") and "Größe" in text


def test_values_json_does_not_know_are_written_as_their_text() -> None:
    row = {"day": dt.date(2026, 11, 27), "path": Path("/a/b.dcm")}
    assert JsonLinesRenderer().render(Listing.of([row], [])) == (
        '{"day": "2026-11-27", "path": "/a/b.dcm"}\n')


def test_no_rows_is_no_output() -> None:
    assert JsonLinesRenderer().render(Listing.of([], COLUMNS)) == ""
