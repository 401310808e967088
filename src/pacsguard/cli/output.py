"""Rows out as a Rich table, JSON lines or CSV: one helper for every listing command."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from pacsguard.cli.common import console
from pacsguard.errors import ConfigError

FORMATS = ("table", "json", "csv")


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


def emit(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]], fmt: str,
         title: str = "", table_columns: Sequence[str] | None = None) -> None:
    """``columns``: (key, header) pairs. JSON lines carry every key of each row; CSV and the
    table carry ``columns`` (the table only ``table_columns`` when given)."""
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
    shown = [(k, h) for k, h in columns if table_columns is None or k in table_columns]
    table = Table(title=title or None, show_lines=False)
    for _, h in shown:
        table.add_column(h, overflow="fold")
    for r in rows:
        table.add_row(*(_cell(r.get(k)) for k, _ in shown))
    console.print(table)
