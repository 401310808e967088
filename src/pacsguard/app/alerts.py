"""Advisory use cases (docs/advisories.md): import advisories, list them, match them against
the inventory, review what changed since the last review, and record and read decisions.

Matching and reviewing read the inventory, so they bring it up to date first, as
:mod:`pacsguard.app.inventory` does (``sync``, ``on_sync``).

Each use case imports what it needs when it runs: recording a decision or reading the trail
needs neither the matcher nor the CSAF parser, nor univers, nor the inventory (docs/cli.md,
start-up), so ``alerts decide`` and ``alerts decisions`` start as fast as they did.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pacsguard.advisories import decisions as trail
from pacsguard.advisories.decisions import Decision
from pacsguard.errors import ConfigError
from pacsguard.workspace import Workspace

if TYPE_CHECKING:
    from pacsguard.advisories.match import Considered, Match, Miss
    from pacsguard.advisories.review import Change
    from pacsguard.advisories.store import AdvisorySummary, ImportResult
    from pacsguard.app.inventory import OnSync


def match_statuses() -> tuple[str, ...]:
    """What :func:`match` can be asked for: each match status, then ``not matched`` (the
    machines of named vendors that were considered and not matched)."""
    from pacsguard.advisories.match import NOT_MATCHED, MatchStatus

    return (*(s.value for s in MatchStatus), NOT_MATCHED)


@dataclass(frozen=True)
class ImportSummary:
    """How many advisories (documents, or alerts of an alert file) an import read, by
    outcome."""

    new: int
    revisions: int
    unchanged: int
    rejected: int
    warned: int  # imported (or already there) with warnings
    from_feeds: bool  # some came from a provider's feed (hashes checked, signatures not)

    @property
    def total(self) -> int:
        return self.new + self.revisions + self.unchanged + self.rejected


def import_advisories(ws: Workspace, paths: Sequence[Path] = (), feeds: Sequence[str] = (),
                      ca_file: Path | None = None,
                      on_result: Callable[[ImportResult], None] | None = None
                      ) -> ImportSummary:
    """Validate and import CSAF 2.0 files, alert files (or folders of them) and providers'
    feeds; a bad document is rejected whole, with the reason. ``on_result`` hears each
    document's outcome as it is imported, before the next is read."""
    from pacsguard.advisories import store
    from pacsguard.advisories.feed import import_feed
    from pacsguard.advisories.store import Imported

    if not paths and not feeds:
        raise ConfigError("give advisory files or folders, or --feed URL")
    for p in paths:
        if not p.exists():
            raise ConfigError(f"{p} does not exist")
    ledger, _, _ = ws.open_ledger()
    counts: Counter[Imported] = Counter()
    warned = 0
    results = itertools.chain(store.import_paths(ledger.engine, paths),
                              *(import_feed(ledger.engine, url, ca_file) for url in feeds))
    for r in results:
        counts[r.outcome] += 1
        if r.outcome is not Imported.REJECTED and r.detail:
            warned += 1
        if on_result is not None:
            on_result(r)
    return ImportSummary(counts[Imported.NEW], counts[Imported.REVISION],
                         counts[Imported.UNCHANGED], counts[Imported.REJECTED], warned,
                         bool(feeds))


def list_advisories(ws: Workspace) -> tuple[AdvisorySummary, ...]:
    """The imported advisories, the current revision of each, newest first."""
    from pacsguard.advisories import store

    ledger, _, _ = ws.open_ledger()
    return tuple(store.list_advisories(ledger.engine))


@dataclass(frozen=True)
class NotMatched:
    """For one advisory: how many machines of the vendors it names were considered and not
    matched, and how many for each kind of reason (a machine's first)."""

    tracking_id: str
    machines: int
    why: tuple[tuple[Miss, int], ...]


@dataclass(frozen=True)
class MatchResults:
    matches: tuple[Match, ...]  # the advisory x machine results of the statuses asked for
    considered: tuple[Considered, ...]  # when asked for ``not matched``; else empty
    not_matched: tuple[NotMatched, ...]  # ``considered`` counted per advisory
    counts: tuple[tuple[str, int], ...]  # (status, how many) for each status asked for


def match(ws: Workspace, statuses: Collection[str] = (), *, sync: bool = True,
          on_sync: OnSync | None = None) -> MatchResults:
    """Every advisory x machine result (affected, fixed, needs review or not affected, with
    why), and the machines of each named vendor that were considered and not matched, with
    the reason. ``statuses``: only these (of :func:`match_statuses`); empty: all."""
    from pacsguard.advisories import match as matching
    from pacsguard.advisories import store
    from pacsguard.advisories.match import NOT_MATCHED
    from pacsguard.app.inventory import synced_engine
    from pacsguard.inventory.machines import list_machines

    known = match_statuses()
    for s in statuses:
        if s not in known:
            raise ConfigError(f"--status {s!r}: use one of {', '.join(known)}")
    wanted = set(statuses or known)
    engine = synced_engine(ws, sync=sync, on_sync=on_sync)
    report = matching.match_report(store.current_products(engine), list_machines(engine))
    found = tuple(m for m in report.matches if m.status in wanted)
    considered = tuple(report.considered) if NOT_MATCHED in wanted else ()
    by_status = Counter(m.status.value for m in found) + Counter({NOT_MATCHED: len(considered)})
    return MatchResults(
        found, considered,
        tuple(NotMatched(tid, n, tuple(kinds.items()))
              for tid, n, kinds in report.not_matched_by_advisory()) if considered else (),
        tuple((s, by_status[s]) for s in known if s in wanted))


@dataclass(frozen=True)
class Reviewed:
    last_review: str  # when, and by whom, the review before this one; "" if none
    changes: tuple[Change, ...]  # new, then changed, then gone
    marked: bool  # stored as reviewed (by ``by``)


def review(ws: Workspace, by: str, *, mark: bool = True, sync: bool = True,
           on_sync: OnSync | None = None) -> Reviewed:
    """What is new since the last review (new, changed and gone results) and which machines
    it hits; marked reviewed by ``by`` unless ``mark`` is False."""
    from pacsguard.advisories import match as matching
    from pacsguard.advisories import review as reviewing
    from pacsguard.advisories import store
    from pacsguard.app.inventory import synced_engine
    from pacsguard.inventory.machines import list_machines

    engine = synced_engine(ws, sync=sync, on_sync=on_sync)
    r = reviewing.review(engine, matching.match(store.current_products(engine),
                                                list_machines(engine)), by, mark=mark)
    return Reviewed(r.last_review, tuple(r.changes), mark)


def decide(ws: Workspace, tracking_id: str, machine_id: int, kind: str,
           details: Mapping[str, str], by: str) -> Decision:
    """Record a decision on an advisory for one machine (appended to the audit trail; earlier
    decisions are kept). ``details``: what the kind needs (advisories/decisions.py)."""
    ledger, _, _ = ws.open_ledger()
    return trail.record_decision(ledger.engine, tracking_id, machine_id, kind, dict(details),
                                 by)


@dataclass(frozen=True)
class Trail:
    decisions: tuple[Decision, ...]  # oldest first
    problems: tuple[str, ...]  # where the hash chain breaks; empty when it holds

    @property
    def head(self) -> str:
        """The newest chain value ("" for an empty trail): kept with the ledger checkpoint,
        it shows whether the newest decisions were removed."""
        return self.decisions[-1].chain if self.decisions else ""


def decisions(ws: Workspace) -> Trail:
    """The decision audit trail, after checking its hash chain."""
    ledger, _, _ = ws.open_ledger()
    problems = trail.check_chain(ledger.engine)
    return Trail(tuple(trail.all_decisions(ledger.engine)), tuple(problems))
