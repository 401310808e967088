"""What a listing is and what renders one (pip-audit's ``_format/interface.py`` shape), and
the few blocks a report is made of besides listings: a line of styled text, a rule, and a
document holding them in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Column:
    """A key of the rows and the header it is shown under."""

    key: str
    header: str
    #: the table's: "right" for counts; "fold" breaks a long word, "ellipsis" cuts it
    justify: Literal["left", "right"] = "left"
    overflow: Literal["fold", "ellipsis"] = "fold"


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
    §7), ``wide``: those of ``--wide``; None for either means every column. ``styles``:
    for each row (or none), the style of some of its cells by key (a verdict's colour), for
    the formats that show colour.
    """

    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]
    title: str = ""
    narrow: tuple[Column, ...] | None = None
    wide: tuple[Column, ...] | None = None
    styles: tuple[Mapping[str, str], ...] = ()

    @classmethod
    def of(cls, rows: Sequence[Mapping[str, Any]],
           columns: Sequence[tuple[str, str] | Column], title: str = "",
           narrow: Sequence[ColumnChoice] | None = None,
           wide: Sequence[ColumnChoice] | None = None,
           styles: Sequence[Mapping[str, str]] = ()) -> Listing:
        """A listing from ``columns`` as (key, header) pairs (or columns) and table columns
        as keys of ``columns`` or (key, header) pairs of their own."""
        every = tuple(c if isinstance(c, Column) else Column(*c) for c in columns)
        by_key = {c.key: c for c in every}

        def chosen(choice: Sequence[ColumnChoice] | None) -> tuple[Column, ...] | None:
            if choice is None:
                return None
            return tuple(Column(*c) if isinstance(c, tuple) else by_key[c] for c in choice)

        return cls(every, tuple(rows), title, chosen(narrow), chosen(wide), tuple(styles))


#: A piece of a line: its text and its style ("" for none), e.g. ("ledger trusted", "green").
Span = tuple[str, str]


@dataclass(frozen=True)
class Line:
    """A line of text in styled pieces: a message, a verdict, a fact. ``highlight``: a
    terminal colours the numbers and quoted text in it (Rich's highlighter)."""

    spans: tuple[Span, ...]
    highlight: bool = False

    @classmethod
    def of(cls, *parts: str | Span, highlight: bool = False) -> Line:
        """A line from plain text and (text, style) pieces."""
        return cls(tuple((p, "") if isinstance(p, str) else p for p in parts), highlight)


@dataclass(frozen=True)
class Rule:
    """A horizontal rule with a title, between the parts of a report."""

    title: Line


#: What a report is made of, in order.
Block = Line | Rule | Listing


@dataclass(frozen=True)
class Document:
    """A report as blocks in order: lines, rules and listings (verify's report, an
    assessment on a terminal). A format shows each block as it shows its kind."""

    blocks: tuple[Block, ...]


class Renderer(Protocol):
    """One output format: a listing in, its text out (every line ending in a newline)."""

    def render(self, listing: Listing) -> str: ...


class DocumentRenderer(Protocol):
    """A format that shows documents: a document in, its text out."""

    def render_document(self, document: Document) -> str: ...
