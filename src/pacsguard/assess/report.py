"""An assessment out as JSON (``pacsguard-assessment/1``) or as one self-contained HTML page
for a purchasing or go-live decision: no scripts, no external resources, printable, rendered
by Jinja2 with autoescaping (evidence quotes what the node answered, which is never trusted as
HTML)."""

from __future__ import annotations

import json
from collections import Counter

from jinja2 import Environment, PackageLoader, select_autoescape

from pacsguard.assess.model import Assessment
from pacsguard.findings import Severity

VERDICTS = {
    Severity.CRITICAL: "Not acceptable on a clinical network as configured: critical "
                       "weaknesses must be remediated (or the purchase made conditional on "
                       "their remediation) before go-live.",
    Severity.HIGH: "Not acceptable on a clinical network as configured: high-severity "
                   "weaknesses need remediation, or a documented risk acceptance, before "
                   "go-live.",
    Severity.MEDIUM: "Acceptable with conditions: plan the listed remediations and confirm "
                     "them with the supplier.",
    Severity.LOW: "No significant weakness found by these checks; the low-severity items are "
                  "hardening advice.",
    Severity.INFO: "No weakness found by these checks.",
}


def to_json(a: Assessment) -> str:
    return json.dumps(a.as_dict(), indent=1, ensure_ascii=False) + "\n"


INCOMPLETE = ("Incomplete assessment, no verdict: some checks could not run, so the absence "
              "of a finding there proves nothing. Resolve what stopped them and assess again. "
              "Not run, or not in full: {gaps}.")


def verdict(a: Assessment) -> str:
    if not a.complete:
        reasons = dict.fromkeys(f"{s.title} ({s.why})" if s.why else s.title
                                for s in a.gaps)
        return INCOMPLETE.format(gaps="; ".join(reasons))
    return VERDICTS[a.worst]


def render_html(a: Assessment) -> str:
    env = Environment(loader=PackageLoader("pacsguard.reports", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True))
    counts = Counter(f.severity for f in a.findings)
    return env.get_template("assess.html.j2").render(
        a=a, findings=a.findings, verdict=verdict(a), worst=a.worst.label,
        counts=[(s.label, counts.get(s, 0)) for s in sorted(Severity, reverse=True)],
    )
