"""What a listing is and what renders one (pip-audit's ``_format/interface.py`` shape)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Column:
    """A key of the rows and the header it is shown under."""

    key: str
    header: str


#: A column as a command names it: a key of the listing's columns, or a (key, header) pair
#: of its own (a shorter header for a narrow table).
ColumnChoice = str | tuple[str, str]


@dataclass(frozen=True)
class Listing:
    """Rows of one kind, as a listing command shows them in every format.

    ``columns``: every column, in order; CSV carries these, and so does a table that names
    none of its own. ``rows``: one mapping per row; JSON lines carry every key of each row,
    the other formats the keys of their columns (a missing key is an empty cell).
    ``narrow``: the columns of the table made to be read on an 80-column terminal (issue #10
    §7), ``wide``: those of ``--wide``; None for either means every column.
    """

    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]
    title: str = ""
    narrow: tuple[Column, ...] | None = None
    wide: tuple[Column, ...] | None = None

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
           title: str = "", narrow: Sequence[ColumnChoice] | None = None,
           wide: Sequence[ColumnChoice] | None = None) -> Listing:
        """A listing from ``columns`` as (key, header) pairs and table columns as keys of
        ``columns`` or (key, header) pairs of their own."""
        headers = dict(columns)

        def chosen(choice: Sequence[ColumnChoice] | None) -> tuple[Column, ...] | None:
            if choice is None:
                return None
            return tuple(Column(*c) if isinstance(c, tuple) else Column(c, headers[c])
                         for c in choice)

        return cls(tuple(Column(k, h) for k, h in columns), tuple(rows), title,
                   chosen(narrow), chosen(wide))


class Renderer(Protocol):
    """One output format: a listing in, its text out (every line ending in a newline)."""

    def render(self, listing: Listing) -> str: ...
