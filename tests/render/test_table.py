"""The table format: the columns a listing chose for 80 columns or for --wide, widths shared
out so identifiers stay whole, and the text exactly what the console would have printed, in
colour on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from pacsguard.render.cells import cell
from pacsguard.render.interface import Listing
from pacsguard.render.table import TableRenderer, column_widths, fill, new_table
from tests.render.samples import COLUMNS, ROWS, TABLE_COLUMNS, TITLE, WIDE_COLUMNS

LISTING = Listing.of(ROWS, COLUMNS, TITLE, narrow=TABLE_COLUMNS, wide=WIDE_COLUMNS[:3])


def _terminal(width: int = 80) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=True,
                   color_system="truecolor")


def test_the_narrow_table_shows_the_chosen_columns_under_their_own_headers() -> None:
    lines = TableRenderer(Console(width=80, file=io.StringIO())).render(LISTING).splitlines()
    assert lines[1].split() == ["status", "machine", "last", "seen", "CVEs", "why"]
    assert lines[3].split()[:5] == ["affected", "7", "2026-11-27", "CVE-2021-27410",
                                    "the"]
    assert all(len(line) == 80 for line in lines)


def test_the_wide_table_shows_the_wide_columns_in_full() -> None:
    text = TableRenderer(Console(width=200, file=io.StringIO()), wide=True).render(LISTING)
    lines = text.splitlines()
    assert lines[1].split() == ["id", "status", "last", "seen"]
    assert lines[3].split() == ["7", "affected", "2026-11-27T10:15:00+00:00"]


def test_a_listing_that_names_no_table_columns_shows_them_all() -> None:
    text = TableRenderer(Console(width=200, file=io.StringIO())).render(
        Listing.of(ROWS, COLUMNS))
    assert text.splitlines()[0].split() == ["id", "status", "last", "seen", "CVEs", "CVSS",
                                           "why"]


def test_on_a_terminal_the_text_is_what_the_console_prints_colours_included() -> None:
    printed = _terminal()
    table = new_table(TITLE)
    for _, header in COLUMNS:
        table.add_column(header, overflow="fold")
    printed.print(fill(table, [[cell(r.get(k)) for k, _ in COLUMNS] for r in ROWS], 80))
    rendered = TableRenderer(_terminal(), wide=True).render(Listing.of(ROWS, COLUMNS, TITLE))
    assert "\x1b[" in rendered  # the title and the headers are styled
    assert rendered == printed.file.getvalue()  # type: ignore[attr-defined]


def test_fill_styles_the_cells_of_a_column_row_by_row() -> None:
    console = _terminal()
    table = new_table()
    table.add_column("status")
    table.add_column("file")
    console.print(fill(table, [["intact", "a.dcm"], ["missing", "b.dcm"]], 80,
                       styles={0: ["green", "bold red"]}))
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[32mintact" in out and "\x1b[1;31mmissing" in out


def test_column_widths_give_narrow_columns_their_width_and_share_the_rest() -> None:
    # everything fits: natural widths
    assert column_widths([5, 10], [5, 4], [[5], [4, 5]], 20) == [5, 10]
    # a status, an id and a long text in 60 characters: the text wraps, nothing else does
    widths = column_widths([12, 15, 200], [6, 8, 3], [[5, 6], [15], [3, 9, 14]], 60)
    assert widths is not None and widths[:2] == [12, 15] and sum(widths) == 60
    # nothing fits even with 12-character words: Rich folds
    assert column_widths([50] * 10, [10] * 10, [[13]] * 10, 60) is None
