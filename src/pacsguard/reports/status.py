"""Patch status and risk per machine (docs/reports.md).

For every machine: the advisories that hit it (affected, or needs review) with the decision in
force, the fixes the advisories name, how long each has been open, whether it is overdue, the
support and operating-system end dates that have passed, and a risk score on the NHS 5x5
matrix (likelihood x consequence) with its reasoning.

Overdue, per advisory x machine:
* no decision, and published more than ``overdue_days`` ago (default 30);
* a mitigation whose ``until`` date has passed;
* an accepted risk whose review date has passed;
* marked patched, but the machine's images still report a version inside the affected range.
``not_applicable`` closes an item; ``patched`` closes it once the images agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from sqlalchemy import Engine

from pacsguard.advisories.decisions import Decision, DecisionKind, current_decisions
from pacsguard.advisories.match import Match, MatchStatus, match
from pacsguard.advisories.store import current_products
from pacsguard.inventory.machines import Machine, list_machines
from pacsguard.inventory.register import RegisterEntry, register_entries

OPEN = (MatchStatus.AFFECTED, MatchStatus.NEEDS_REVIEW)
#: PS3.3 modality codes of acquisition devices whose images diagnose many patients a day
DIAGNOSTIC = frozenset({"CT", "MR", "PT", "NM", "XA", "RF", "MG", "DX", "CR", "US", "IO", "PX",
                        "OP", "OPT", "BMD"})
_ARCHIVE_WORDS = ("pacs", "archive", "vna", "ris", "server", "workstation", "portal", "viewer")


class Rating(StrEnum):
    """The bands of the NHS 5x5 risk matrix (likelihood x consequence)."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    EXTREME = "extreme"


#: The highest score of each band
RATINGS = ((3, Rating.LOW), (6, Rating.MODERATE), (12, Rating.HIGH), (25, Rating.EXTREME))


class ItemState(StrEnum):
    """Where one advisory x machine item stands (module docstring)."""

    OPEN = "open"
    OVERDUE = "overdue"
    CLOSED = "closed"


@dataclass(frozen=True)
class Item:
    """One advisory hitting one machine."""

    match: Match
    decision: Decision | None
    days_open: int | None  # since publication; None when the advisory gives no date
    state: ItemState
    why: str  # the reason for the state, in words


@dataclass(frozen=True)
class Risk:
    likelihood: int
    consequence: int
    reasoning: tuple[str, ...]

    @property
    def score(self) -> int:
        return self.likelihood * self.consequence

    @property
    def rating(self) -> Rating:
        return next(name for top, name in RATINGS if self.score <= top)


@dataclass(frozen=True)
class MachineStatus:
    machine: Machine
    register: RegisterEntry | None
    items: list[Item]
    ended: list[str]  # support or OS end dates that have passed, in words
    risk: Risk
    fixed: list[Match] = field(default_factory=list)

    @property
    def overdue(self) -> list[Item]:
        return [i for i in self.items if i.state == ItemState.OVERDUE]


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _judge_item(m: Match, d: Decision | None, today: date, overdue_days: int) -> Item:
    published = _date(m.published)
    days = (today - published).days if published else None
    if d is None:
        if days is not None and days > overdue_days:
            return Item(m, d, days, ItemState.OVERDUE, f"no decision {days} days after "
                        f"publication (limit {overdue_days})")
        return Item(m, d, days, ItemState.OPEN, "no decision yet")
    if d.kind == DecisionKind.NOT_APPLICABLE:
        return Item(m, d, days, ItemState.CLOSED, d.summary())
    if d.kind == DecisionKind.PATCHED:
        if m.status is MatchStatus.AFFECTED:
            return Item(m, d, days, ItemState.OVERDUE, f"{d.summary()}, but the images still "
                        "report a version in the affected range")
        return Item(m, d, days, ItemState.CLOSED, d.summary())
    limit_key = "until" if d.kind == DecisionKind.MITIGATED else "review"
    limit = _date(d.details.get(limit_key, ""))
    if limit is not None and limit < today:
        what = ("mitigation expired" if d.kind == DecisionKind.MITIGATED
                else "risk review was due")
        return Item(m, d, days, ItemState.OVERDUE,
                    f"{what} on {limit.isoformat()}: {d.summary()}")
    return Item(m, d, days, ItemState.OPEN, d.summary())


def _consequence(m: Machine) -> tuple[int, str]:
    model = m.model.casefold()
    only_derived = bool(m.modalities) and set(m.modalities) <= {"OT", "SC", "SR", "PR", "KO",
                                                                 "DOC"}
    if any(w in model for w in _ARCHIVE_WORDS) or only_derived:
        return 5, ("holds or shows many patients' images (archive, viewer or server): its "
                   "loss or tampering reaches every patient")
    if set(m.modalities) & DIAGNOSTIC:
        return 4, (f"acquires diagnostic images ({', '.join(m.modalities)}): tampered or lost "
                   "images can change a patient's diagnosis")
    return 3, "role not known from its images; assumed moderate"


def assess_risk(m: Machine, items: list[Item], ended: list[str]) -> Risk:
    reasons = []
    live = [i for i in items if i.state != ItemState.CLOSED]
    scores = [i.match.cvss for i in live if i.match.cvss is not None]
    top = max(scores) if scores else None
    if not live:
        likelihood, why = 1, "no open advisory hits it"
    elif top is None:
        likelihood, why = 3, f"{len(live)} open advisories without a CVSS score"
    else:
        likelihood = 5 if top >= 9.0 else 4 if top >= 7.0 else 3 if top >= 4.0 else 2
        why = f"{len(live)} open advisories, highest CVSS {top:.1f}"
    reasons.append(f"likelihood {likelihood}: {why}")
    if live and all(i.decision is not None and i.decision.kind == DecisionKind.MITIGATED
                    and i.state == ItemState.OPEN for i in live) and likelihood > 1:
        likelihood -= 1
        reasons.append(f"likelihood lowered to {likelihood}: every open advisory is mitigated")
    if ended and likelihood < 5:
        likelihood += 1
        reasons.append(f"likelihood raised to {likelihood}: {'; '.join(ended)}")
    consequence, cwhy = _consequence(m)
    reasons.append(f"consequence {consequence}: {cwhy}")
    return Risk(likelihood, consequence, tuple(reasons))


def _ended(reg: RegisterEntry | None, today: date) -> list[str]:
    if reg is None:
        return []
    out = []
    end = _date(reg.support_end)
    if end is not None and end < today:
        out.append(f"support contract ended {end.isoformat()}")
    eol = _date(reg.os_end_of_life)
    if eol is not None and eol < today:
        os_name = reg.operating_system or "operating system"
        out.append(f"{os_name} out of support since {eol.isoformat()}")
    return out


def patch_status(engine: Engine, today: date, overdue_days: int = 30) -> list[MachineStatus]:
    machines = list_machines(engine)
    found = match(current_products(engine), machines)
    decided = current_decisions(engine)
    register = register_entries(engine)
    by_machine: dict[int, list[Match]] = {}
    for m in found:
        by_machine.setdefault(m.machine_id, []).append(m)
    out = []
    for mach in machines:
        ms = by_machine.get(mach.id, [])
        items = [_judge_item(m, decided.get((m.tracking_id, mach.id)), today, overdue_days)
                 for m in ms if m.status in OPEN]
        ended = _ended(register.get(mach.id), today)
        out.append(MachineStatus(mach, register.get(mach.id), items, ended,
                                 assess_risk(mach, items, ended),
                                 [m for m in ms if m.status is MatchStatus.FIXED]))
    out.sort(key=lambda s: (-s.risk.score, -len(s.overdue), s.machine.label))
    return out
