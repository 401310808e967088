"""Tables for a terminal, with Rich, made to be read on an 80-column terminal (issue #10 §7).

A listing's table shows the few columns its command chose to fit 80 columns (``narrow``), each
cell shortened (see :mod:`pacsguard.render.cells`); ``--wide`` shows more columns, in full.
Tables have no vertical rules, and :func:`column_widths` shares the width out so that
identifiers, dates, paths and version numbers stay whole where they can. Nothing is ever cut
off. A :class:`~.interface.Document` (verify's report, an assessment) is its blocks in
order: each line printed as ``console.print`` prints Rich markup (wrapped to the width, the
styled pieces as markup, the rest escaped), each rule as ``console.rule``, each listing as a
table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pacsguard.render.cells import cell, short_cell
from pacsguard.render.interface import Document, Line, Listing, Rule


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


def fill(table: Table, cells: Sequence[Sequence[str]], width: int,
         styles: Mapping[int, Sequence[str]] | None = None) -> Table:
    """``table`` (columns added, no rows) with ``cells`` added and its columns' widths set to
    fit ``width`` characters (see :func:`column_widths`); where they cannot, Rich shares the
    width out and folds long words. ``styles``: for a column index, the style of each row's
    cell."""
    heads = [str(col.header) for col in table.columns]
    natural = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(heads)]
    words = [[len(w) for row in cells for w in row[i].split()] for i in range(len(heads))]
    gaps = 2 * (len(heads) - 1)  # one rule character and one of padding between columns
    widths = column_widths(natural, [max(len(w) for w in h.split()) for h in heads], words,
                           width - gaps)
    if widths is not None:
        for col, w in zip(table.columns, widths, strict=True):
            col.width = w
    for n, row in enumerate(cells):
        table.add_row(*(Text(c, style=styles[i][n]) if styles and i in styles else Text(c)
                        for i, c in enumerate(row)))
    return table


class TableRenderer:
    """A listing as a Rich table in ``console``'s width and colours: the ``narrow`` columns,
    shortened, or with ``wide`` the ``wide`` columns in full; the text is what
    ``console.print`` would write."""

    def __init__(self, console: Console, *, wide: bool = False) -> None:
        self.console = console
        self.wide = wide

    def render(self, listing: Listing) -> str:
        with self.console.capture() as captured:
            self._print(listing)
        return captured.get()

    def render_document(self, document: Document) -> str:
        with self.console.capture() as captured:
            for block in document.blocks:
                if isinstance(block, Line):
                    self.console.print(markup(block), highlight=block.highlight)
                elif isinstance(block, Rule):
                    self.console.rule(markup(block.title))
                else:
                    self._print(block)
        return captured.get()

    def _print(self, listing: Listing) -> None:
        chosen = listing.wide if self.wide else listing.narrow
        shown = listing.columns if chosen is None else chosen
        text = cell if self.wide else short_cell
        table = new_table(listing.title)
        for c in shown:
            table.add_column(c.header, justify=c.justify, overflow=c.overflow)
        styles = {i: [s.get(c.key, "") for s in listing.styles]
                  for i, c in enumerate(shown)
                  if listing.styles and any(c.key in s for s in listing.styles)}
        self.console.print(fill(table, [[text(r.get(c.key)) for c in shown]
                                        for r in listing.rows],
                                self.console.width, styles))


def markup(line: Line) -> str:
    """``line`` as Rich markup: each styled piece in its style, every piece escaped."""
    return "".join(f"[{style}]{escape(text)}[/]" if style else escape(text)
                   for text, style in line.spans)
