"""The two HTML documents: the governance report a PACS manager attaches to a governance
paper (docs/reports.md) and the assessment report for a purchasing or go-live decision
(docs/assess.md).

Each is one self-contained page: no scripts, no external resources (inline CSS only),
printable. Rendered by Jinja2 from the templates in ``templates/`` with autoescaping on:
advisory text is third-party input and evidence quotes what a node answered; neither is ever
trusted as HTML.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from jinja2 import Environment, PackageLoader, select_autoescape

from pacsguard.assess.model import Assessment
from pacsguard.assess.report import verdict
from pacsguard.findings import Severity
from pacsguard.reports.governance import GovernanceReport
from pacsguard.reports.status import RATINGS


def _environment() -> Environment:
    return Environment(loader=PackageLoader("pacsguard.render", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def _band(score: int) -> str:
    return next(name for top, name in RATINGS if score <= top)


def governance_page(report: GovernanceReport) -> str:
    """The governance report, stamped with the time it was generated and pacsguard's
    version."""
    try:
        pkg_version = version("pacsguard")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        pkg_version = "source"
    r = report
    return _environment().get_template("report.html.j2").render(
        today=r.today.isoformat(), generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=pkg_version, origin=r.origin, overdue_days=r.overdue_days, machines=r.machines,
        advisories=r.advisories, n_affected=r.affected, n_review=r.needs_review,
        overdue=r.overdue, band=_band, matrix=r.matrix,
    )


def assessment_page(a: Assessment) -> str:
    """The assessment report: verdict, findings worst first, every check and its facts."""
    counts = Counter(f.severity for f in a.findings)
    return _environment().get_template("assess.html.j2").render(
        a=a, findings=a.findings, verdict=verdict(a), worst=a.worst.label,
        counts=[(s.label, counts.get(s, 0)) for s in sorted(Severity, reverse=True)],
    )
