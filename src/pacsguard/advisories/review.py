"""``alerts review``: what is new since the last review, and which machines it hits.

Every advisory x machine result that has been shown in a review is remembered in
``match_seen`` with its status and since when. A review lists the results that are new (never
seen), changed status (e.g. needs review -> affected after a new revision), or gone (no longer
matched: the advisory revision dropped the product, or the machine's version changed). Marking
the review done (the default; ``--dry-run`` only looks) stores them and a ``reviews`` row with
who reviewed and when.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.advisories.match import Match
from pacsguard.dates import utc_now
from pacsguard.errors import ConfigError, StoreError
from pacsguard.store.schema import match_seen, reviews


class ChangeKind(StrEnum):
    """How one advisory x machine result differs from what the last review saw."""

    NEW = "new"  # never shown in a review
    CHANGED = "changed"  # shown with another status
    GONE = "gone"  # shown, and no longer a result


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    tracking_id: str
    machine_id: int
    machine: str
    status: str  # now ("" when gone)
    before: str  # the status at the last review ("" when new)
    match: Match | None


@dataclass(frozen=True)
class Review:
    last_review: str  # when, and by whom; "" if never
    changes: list[Change]


def last_review(engine: Engine) -> str:
    with engine.connect() as conn:
        row = conn.execute(select(reviews.c.at, reviews.c.by).order_by(reviews.c.id.desc())
                           .limit(1)).first()
    return f"{row[0]} by {row[1]}" if row else ""


def review(engine: Engine, matches: list[Match], by: str, mark: bool = True) -> Review:
    """The changes since the last review; stored as reviewed when ``mark``."""
    if mark and not by.strip():
        raise ConfigError("--by is required to mark a review done (or use --dry-run)")
    previous = last_review(engine)
    try:
        with engine.begin() as conn:
            seen = {(r[0], int(r[1])): r[2] for r in conn.execute(
                select(match_seen.c.tracking_id, match_seen.c.machine_id, match_seen.c.status))}
            changes: list[Change] = []
            current = {(m.tracking_id, m.machine_id): m for m in matches}
            for key, m in current.items():
                old = seen.get(key)
                if old is None:
                    changes.append(Change(ChangeKind.NEW, m.tracking_id, m.machine_id,
                                          m.machine, m.status.value, "", m))
                elif old != m.status.value:
                    changes.append(Change(ChangeKind.CHANGED, m.tracking_id, m.machine_id,
                                          m.machine, m.status.value, old, m))
            for key, status in seen.items():
                if key not in current:
                    changes.append(Change(ChangeKind.GONE, key[0], key[1], "", "", status, None))
            if mark:
                now = utc_now()
                for c in changes:
                    where = ((match_seen.c.tracking_id == c.tracking_id)
                             & (match_seen.c.machine_id == c.machine_id))
                    if c.kind is ChangeKind.NEW:
                        conn.execute(match_seen.insert().values(
                            tracking_id=c.tracking_id, machine_id=c.machine_id,
                            status=c.status, first_seen=now, status_since=now))
                    elif c.kind is ChangeKind.CHANGED:
                        conn.execute(update(match_seen).where(where).values(
                            status=c.status, status_since=now))
                    else:
                        conn.execute(delete(match_seen).where(where))
                conn.execute(reviews.insert().values(at=now, by=by.strip(),
                                                     new_results=len(changes)))
    except SQLAlchemyError as exc:
        raise StoreError(f"could not store the review: {getattr(exc, 'orig', exc)}") from None
    order = {ChangeKind.NEW: 0, ChangeKind.CHANGED: 1, ChangeKind.GONE: 2}
    changes.sort(key=lambda c: (order[c.kind], c.tracking_id, c.machine))
    return Review(previous, changes)
