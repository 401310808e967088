"""What an assessment concludes: its verdict in words (complete, or why there is none), and
the assessment as JSON (``pacsguard-assessment/1``). The HTML page that shows them is drawn by
:func:`pacsguard.render.html.assessment_page`."""

from __future__ import annotations

import json

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

