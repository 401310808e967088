"""Rows out as a Rich table, JSON lines or CSV: one helper for every listing command.

Tables are made to be read on an 80-column terminal (issue #10 §7): each command names the
few columns that fit (``table_columns``), cells are shortened (a timestamp to its date, a long
list to its first item and a count), and the table has no vertical rules. ``--wide`` shows
more columns, in full; JSON lines and CSV always carry everything.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from pacsguard.cli.common import console
from pacsguard.errors import ConfigError

FORMATS = ("table", "json", "csv")

Wide = Annotated[bool, typer.Option(
    "--wide", help="Table: more columns, nothing shortened (wider than 80 columns; "
    "--format json or csv has everything).")]

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
#: A list of identifiers longer than this shows its first and how many more (not with --wide).
LIST_CELL = 24


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def _cell(value: Any) -> str:
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
        whole = _cell(value)
        if len(whole) <= LIST_CELL or any(" " in str(v) for v in value):
            return whole
        return f"{value[0]} +{len(value) - 1} more"
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return value[:10]
    return _cell(value)


def relative(path: str, roots: Sequence[Path]) -> str:
    """``path`` relative to the root it lies under (what the user typed), for a table cell."""
    for r in roots:
        base = str(r.resolve())
        if path.startswith(base + "/"):
            return path[len(base) + 1 :]
    return path


def new_table(title: str = "") -> Table:
    """A table without vertical rules: two spaces between columns instead of a rule and two
    spaces of padding (three columns of text per column, on an 80-column terminal)."""
    return Table(title=title or None, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0),
                 pad_edge=False, show_edge=False, title_justify="left")


def column_widths(natural: Sequence[int], headers: Sequence[int],
                  words: Sequence[Sequence[int]], available: int) -> list[int] | None:
    """Widths for columns whose longest cells are ``natural``, whose headers' longest words
    are ``headers`` and whose cells' words are ``words`` long, in ``available`` characters;
    None when even 12-character words do not fit.

    Narrow columns (a status, an id, a date, a number) get their whole width first, smallest
    first, while each is at most an even share of what is left; every other column gets at
    least its header's longest word and its cells' longest word (up to 40 characters if all
    then fit, else up to 30, 20 or 12), and the rest of the width in proportion to what it
    lacks to hold its longest cell on one line.
    """
    if sum(natural) <= available:
        return list(natural)
    for cap in (40, 30, 20, 12):
        floor = [min(n, max([h, *(w for w in ws if w <= cap)]))
                 for n, h, ws in zip(natural, headers, words, strict=True)]
        if sum(floor) <= available:
            break
    else:
        return None
    widths = list(floor)
    rest = sorted(range(len(natural)), key=natural.__getitem__)
    budget = available
    while rest:
        i = rest[0]
        others = sum(floor[j] for j in rest[1:])
        if natural[i] > budget / len(rest) or natural[i] + others > budget:
            break
        widths[i] = natural[i]
        budget -= natural[i]
        rest.pop(0)
    lack = {i: natural[i] - floor[i] for i in rest}
    extra = budget - sum(floor[i] for i in rest)  # < sum(lack): the cells do not all fit
    shares = {i: extra * lack[i] / max(1, sum(lack.values())) for i in rest}
    for i in rest:
        widths[i] = floor[i] + int(shares[i])
    for i in sorted(rest, key=lambda i: int(shares[i]) - shares[i])[:available - sum(widths)]:
        widths[i] += 1
    return widths


def print_table(table: Table, cells: Sequence[Sequence[str]],
                styles: Mapping[int, Sequence[str]] | None = None) -> None:
    """Print ``table`` (columns added, no rows) with ``cells`` in the console's width, so that
    identifiers, dates, paths and version numbers stay whole where they can (see
    :func:`column_widths`); where they cannot, Rich shares the width out and folds long words.
    Nothing is ever cut off. ``styles``: for a column index, the style of each row's cell."""
    heads = [str(col.header) for col in table.columns]
    natural = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(heads)]
    words = [[len(w) for row in cells for w in row[i].split()] for i in range(len(heads))]
    gaps = 2 * (len(heads) - 1)  # one rule character and one of padding between columns
    widths = column_widths(natural, [max(len(w) for w in h.split()) for h in heads], words,
                           console.width - gaps)
    if widths is not None:
        for col, w in zip(table.columns, widths, strict=True):
            col.width = w
    for n, row in enumerate(cells):
        table.add_row(*(Text(c, style=styles[i][n]) if styles and i in styles else Text(c)
                        for i, c in enumerate(row)))
    console.print(table)


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], fmt: str,
         title: str = "", table_columns: Sequence[str | tuple[str, str]] | None = None,
         wide_columns: Sequence[str | tuple[str, str]] | None = None,
         wide: bool = False) -> None:
    """``columns``: (key, header) pairs. JSON lines carry every key of each row; CSV carries
    ``columns``; the table ``table_columns`` (chosen to fit 80 columns) or, with ``wide``,
    ``wide_columns`` (default: all ``columns``) with nothing shortened. A table column is a
    key of ``columns`` or a (key, header) pair of its own."""
    if fmt == "json":
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow([h for _, h in columns])
        for r in rows:
            w.writerow([_cell(r.get(k)) for k, _ in columns])
        return
    headers = dict(columns)
    chosen = wide_columns if wide else table_columns
    shown = list(columns) if chosen is None else [
        c if isinstance(c, tuple) else (c, headers[c]) for c in chosen]
    cell = _cell if wide else short_cell
    table = new_table(title)
    for _, h in shown:
        table.add_column(h, overflow="fold")
    print_table(table, [[cell(r.get(k)) for k, _ in shown] for r in rows])
