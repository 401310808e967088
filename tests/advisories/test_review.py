"""The review of match results: what is new, unchanged or changed since the last review
(pacsguard/advisories/review.py), on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from pacsguard.advisories.review import review
from pacsguard.advisories.store import import_paths
from pacsguard.errors import ConfigError
from tests.fleet import CSAF
from tests.governance import matches


@pytest.fixture
def engine(governance_engine: Engine) -> Engine:
    return governance_engine


def test_review_lists_new_then_nothing_then_changes(engine: Engine, tmp_path: Path) -> None:
    """New results, then nothing new; a status change (a new revision that drops the Vue PACS
    product) shows as gone."""
    first = review(engine, matches(engine), "A. Manager")
    assert first.last_review == ""
    assert {c.kind for c in first.changes} == {"new"}
    assert any(c.tracking_id == "ICSMA-21-187-01" and c.status == "affected"
               for c in first.changes)
    second = review(engine, matches(engine), "A. Manager")
    assert second.changes == [] and "by A. Manager" in second.last_review
    with pytest.raises(ConfigError, match="--by is required"):
        review(engine, matches(engine), "")
    assert review(engine, matches(engine), "", mark=False).changes == []
    import json

    doc = json.loads((CSAF / "icsma-21-187-01.json").read_bytes())
    doc["document"]["tracking"]["version"] = "7"
    doc["document"]["tracking"]["current_release_date"] = "2026-11-25T00:00:00Z"
    doc["document"]["tracking"]["revision_history"].append(
        {"date": "2026-11-25T00:00:00Z", "number": "7", "summary": "Vue PACS fixed range"})
    for b in doc["product_tree"]["branches"][0]["branches"]:
        if b["name"] == "Vue PACS":
            b["branches"][0]["name"] = "<= 12.0"
    (tmp_path / "rev7.json").write_text(json.dumps(doc))
    list(import_paths(engine, [tmp_path / "rev7.json"]))
    third = review(engine, matches(engine), "A. Manager", mark=False)
    vue = [c for c in third.changes if c.machine == "Philips Vue PACS (SN VUE-01)"]
    assert [(c.kind, c.before, c.status) for c in vue] == [
        ("changed", "affected", "not affected")]
