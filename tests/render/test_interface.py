"""A listing names its table columns by key (the header of ``columns``) or with a header of
their own."""

from __future__ import annotations

import pytest

from pacsguard.render.interface import Column, Listing


def test_table_columns_are_keys_of_the_columns_or_pairs_of_their_own() -> None:
    listing = Listing.of([{"id": 1}], [("id", "id"), ("label", "label")], "t",
                         narrow=["id", ("label", "machine")], wide=None)
    assert listing.columns == (Column("id", "id"), Column("label", "label"))
    assert listing.narrow == (Column("id", "id"), Column("label", "machine"))
    assert listing.wide is None and listing.title == "t" and listing.rows == ({"id": 1},)


def test_a_table_column_that_is_not_a_column_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        Listing.of([], [("id", "id")], narrow=["nope"])
