"""What the governance report says (docs/reports.md): every advisory with the machines it
hits, what is overdue, headline counts and the 5x5 risk matrix, from the patch status of each
machine. The page itself is drawn by :func:`pacsguard.render.html.governance_page`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from pacsguard.advisories.decisions import Decision
from pacsguard.advisories.match import Match, MatchStatus
from pacsguard.reports.status import Item, MachineStatus


@dataclass(frozen=True)
class AdvisoryHits:
    """One advisory and the machines it hits, or hit (fixed), with the decision in force."""

    tracking_id: str
    revision: str
    title: str
    published: str
    cvss: float | None  # the highest score of its results
    cves: tuple[str, ...]  # sorted
    remediations: tuple[str, ...]  # in the order first named
    rows: tuple[tuple[Match, Decision | None], ...]  # affected first, then by machine


@dataclass(frozen=True)
class GovernanceReport:
    machines: tuple[MachineStatus, ...]  # as patch_status orders them: riskiest first
    advisories: tuple[AdvisoryHits, ...]  # highest CVSS first, then by tracking id
    overdue: tuple[tuple[MachineStatus, Item], ...]
    affected: int  # advisory x machine results
    needs_review: int
    matrix: Mapping[tuple[int, int], int]  # machines per (likelihood, consequence)
    origin: str  # the ledger's origin
    today: date
    overdue_days: int


@dataclass
class _Advisory:
    tracking_id: str
    revision: str
    title: str
    published: str
    cvss: float | None = None
    cves: set[str] = field(default_factory=set)
    remediations: list[str] = field(default_factory=list)
    rows: list[tuple[Match, Decision | None]] = field(default_factory=list)


def governance_report(statuses: Sequence[MachineStatus], origin: str, today: date,
                      overdue_days: int) -> GovernanceReport:
    advisories: dict[str, _Advisory] = {}
    overdue: list[tuple[MachineStatus, Item]] = []
    counts: Counter[MatchStatus] = Counter()
    for s in statuses:
        items = {i.match.tracking_id: i for i in s.items}
        for m in [i.match for i in s.items] + s.fixed:
            a = advisories.setdefault(m.tracking_id, _Advisory(m.tracking_id, m.revision,
                                                               m.title, m.published))
            if m.cvss is not None:
                a.cvss = m.cvss if a.cvss is None else max(a.cvss, m.cvss)
            a.cves.update(m.cves)
            for r in m.remediations:
                if r not in a.remediations:
                    a.remediations.append(r)
            item = items.get(m.tracking_id)
            a.rows.append((m, item.decision if item else None))
            counts[m.status] += 1
        overdue.extend((s, i) for i in s.overdue)
    ordered = sorted(advisories.values(), key=lambda a: (-(a.cvss or 0.0), a.tracking_id))
    for a in ordered:
        a.rows.sort(key=lambda r: (r[0].status is not MatchStatus.AFFECTED, r[0].machine))
    return GovernanceReport(
        machines=tuple(statuses),
        advisories=tuple(AdvisoryHits(a.tracking_id, a.revision, a.title, a.published, a.cvss,
                                      tuple(sorted(a.cves)), tuple(a.remediations),
                                      tuple(a.rows)) for a in ordered),
        overdue=tuple(overdue), affected=counts[MatchStatus.AFFECTED],
        needs_review=counts[MatchStatus.NEEDS_REVIEW],
        matrix=Counter((s.risk.likelihood, s.risk.consequence) for s in statuses),
        origin=origin, today=today, overdue_days=overdue_days)
