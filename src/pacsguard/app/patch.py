"""Patch status use cases (docs/reports.md): per machine, what is open and overdue, the fixes
the advisories name, the support dates that have passed and the risk score; and the data of
the governance report.

Both read the inventory, so they bring it up to date first, as :mod:`pacsguard.app.inventory`
does (``sync``, ``on_sync``). ``today`` is the day to judge as of, as the operator wrote it
(YYYY-MM-DD; empty: today), read by :func:`as_of`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pacsguard.app.inventory import OnSync, synced_engine
from pacsguard.errors import ConfigError
from pacsguard.reports.governance import GovernanceReport, governance_report
from pacsguard.reports.status import ItemState, MachineStatus, Rating, patch_status
from pacsguard.workspace import Workspace

#: An advisory without a decision is overdue this many days after publication, by default
OVERDUE_DAYS = 30


def as_of(text: str) -> dt.date:
    """The day to judge as of: ``text`` (YYYY-MM-DD), or today when it is empty."""
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--today {text!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class PatchRow:
    """One machine's line of the patch status."""

    machine_id: int
    machine: str
    software_versions: tuple[str, ...]
    open: int  # items not closed (open or overdue)
    overdue: int
    oldest_days_open: int | None  # days since the oldest open item's publication
    fixes: tuple[str, ...]  # the fixed versions the open items' advisories name, sorted
    advisories: tuple[str, ...]  # each item: advisory, status, state and why, in words
    ended: tuple[str, ...]  # support or operating-system end dates that have passed
    risk_score: int
    risk: Rating
    likelihood: int
    consequence: int
    risk_reasoning: tuple[str, ...]


@dataclass(frozen=True)
class PatchStatus:
    today: dt.date
    overdue_days: int
    machines: tuple[MachineStatus, ...]  # highest risk first, then most overdue
    rows: tuple[PatchRow, ...]  # one per machine, in the same order


def _row(s: MachineStatus) -> PatchRow:
    live = [i for i in s.items if i.state != ItemState.CLOSED]
    return PatchRow(
        s.machine.id, s.machine.label, s.machine.software_versions, len(live), len(s.overdue),
        max((i.days_open or 0 for i in live), default=None),
        tuple(sorted({f for i in live for f in i.match.fixes})),
        tuple(f"{i.match.tracking_id} {i.match.status.value} ({i.state}: {i.why})"
              for i in s.items),
        tuple(s.ended), s.risk.score, s.risk.rating, s.risk.likelihood, s.risk.consequence,
        s.risk.reasoning)


def status(ws: Workspace, today: str = "", overdue_days: int = OVERDUE_DAYS, *,
           sync: bool = True, on_sync: OnSync | None = None) -> PatchStatus:
    """Per machine: open and overdue advisories, the fixes they name, passed end-of-support
    dates and the NHS 5x5 risk score (reports/status.py)."""
    engine = synced_engine(ws, sync=sync, on_sync=on_sync)
    day = as_of(today)  # after the sync (as ever): a mistyped day does not undo it
    statuses = tuple(patch_status(engine, day, overdue_days))
    return PatchStatus(day, overdue_days, statuses, tuple(_row(s) for s in statuses))


def report(ws: Workspace, today: str = "", overdue_days: int = OVERDUE_DAYS, *,
           sync: bool = True, on_sync: OnSync | None = None) -> GovernanceReport:
    """The data of the governance report: the patch status of every machine, what each
    advisory hits and what has been decided (render.html.governance_page draws it)."""

    day = as_of(today)  # before the sync (as ever): nothing is written for a mistyped day
    engine = synced_engine(ws, sync=sync, on_sync=on_sync)
    statuses = tuple(patch_status(engine, day, overdue_days))
    return governance_report(statuses, ws.settings().get("origin", ""), day, overdue_days)
