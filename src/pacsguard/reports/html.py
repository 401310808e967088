"""The self-contained HTML report a PACS manager attaches to a governance paper.

One file, no scripts, no external resources (inline CSS only), printable. Rendered with Jinja2
with autoescaping on: advisory text is third-party input and is never trusted as HTML.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version

from jinja2 import Environment, PackageLoader, select_autoescape

from pacsguard.advisories.decisions import Decision
from pacsguard.advisories.match import Match, MatchStatus
from pacsguard.reports.status import RATINGS, Item, MachineStatus


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


def _band(score: int) -> str:
    return next(name for top, name in RATINGS if score <= top)


def render(statuses: list[MachineStatus], origin: str, today: date,
           overdue_days: int) -> str:
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
    try:
        pkg_version = version("pacsguard")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        pkg_version = "source"
    env = Environment(loader=PackageLoader("pacsguard.reports", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    template = env.get_template("report.html.j2")
    return template.render(
        today=today.isoformat(), generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=pkg_version, origin=origin, overdue_days=overdue_days, machines=statuses,
        advisories=[dict(a.__dict__, cves=sorted(a.cves)) for a in ordered],
        n_affected=counts[MatchStatus.AFFECTED], n_review=counts[MatchStatus.NEEDS_REVIEW],
        overdue=overdue, band=_band,
        matrix=Counter((s.risk.likelihood, s.risk.consequence) for s in statuses),
    )
