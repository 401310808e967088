"""Rows out as a table, JSON lines or CSV: the one call every listing command makes, over
:mod:`pacsguard.render`.

Tables are made to be read on an 80-column terminal (issue #10 §7): each command names the
few columns that fit (``table_columns``), cells are shortened (a timestamp to its date, a long
list to its first item and a count), and the table has no vertical rules. ``--wide`` shows
more columns, in full; JSON lines and CSV always carry everything. This module binds the
formats to the command line: the ``--format`` and ``--wide`` options, standard output and the
console's width and colours.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from pacsguard.cli.common import console
from pacsguard.errors import ConfigError
from pacsguard.render.csv import CsvRenderer
from pacsguard.render.interface import ColumnChoice, Document, Listing
from pacsguard.render.jsonl import JsonLinesRenderer
from pacsguard.render.table import TableRenderer, fill, new_table

__all__ = ["FORMATS", "Wide", "check_format", "emit", "new_table", "print_document",
           "print_table"]

FORMATS = ("table", "json", "csv")

Wide = Annotated[bool, typer.Option(
    "--wide", help="Table: more columns, nothing shortened (wider than 80 columns; "
    "--format json or csv has everything).")]


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    return fmt


def print_table(table: Table, cells: Sequence[Sequence[str]],
                styles: Mapping[int, Sequence[str]] | None = None) -> None:
    """Print ``table`` (made by :func:`new_table`, columns added, no rows) with ``cells`` in
    the console's width (see :func:`pacsguard.render.table.fill`). ``styles``: for a column
    index, the style of each row's cell."""
    console.print(fill(table, cells, console.width, styles))


def print_document(document: Document) -> None:
    """Print a report (see :class:`pacsguard.render.interface.Document`) on the console."""
    console.file.write(TableRenderer(console).render_document(document))
    console.file.flush()


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], fmt: str,
         title: str = "", table_columns: Sequence[ColumnChoice] | None = None,
         wide_columns: Sequence[ColumnChoice] | None = None,
         wide: bool = False) -> None:
    """``columns``: (key, header) pairs. JSON lines carry every key of each row; CSV carries
    ``columns``; the table ``table_columns`` (chosen to fit 80 columns) or, with ``wide``,
    ``wide_columns`` (default: all ``columns``) with nothing shortened. A table column is a
    key of ``columns`` or a (key, header) pair of its own."""
    listing = Listing.of(rows, columns, title, narrow=table_columns, wide=wide_columns)
    if fmt == "json":
        sys.stdout.write(JsonLinesRenderer().render(listing))
    elif fmt == "csv":
        sys.stdout.write(CsvRenderer().render(listing))
    else:  # where console.print writes, flushed as it flushes
        console.file.write(TableRenderer(console, wide=wide).render(listing))
        console.file.flush()
