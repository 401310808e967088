"""Query robustness: does SQL meta-character input in a C-FIND reach a database unescaped?

A baseline C-FIND (Study Root, study level; else Patient Root, patient level) asks for a
Patient ID nobody has (``PGQ`` and random hex), then the same query with SQL meta-characters
appended, one query each, paced by ``--rate``. Payloads only ever *read*: quotes, a
tautology (``' OR '1'='1``), comment markers, ``LIKE`` wildcards. Never a statement that
writes, deletes, sleeps or stacks another query.

* More matches than the baseline for a quote, tautology or comment payload: the value
  changed the SQL the database ran, ``QUERY-INJECTION`` (critical).
* More matches for a ``LIKE`` wildcard (``%``, ``_%``, the bare ``%``) only: the value reaches
  a ``LIKE`` unescaped, so SQL wildcards match where DICOM's are ``*`` and ``?`` (PS3.4
  C.2.2.2.4); a bound parameter does that too, so it is no proof of injection:
  ``QUERY-LIKE-WILDCARD`` (low).
* An error status, an aborted association or a timeout where the baseline was answered:
  ``QUERY-ERROR-ON-METACHARS``.

Only counts are compared; no identifier is kept.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import Any

from pacsguard.assess import dimse
from pacsguard.assess.catalog import finding
from pacsguard.assess.dimse import OutcomeState
from pacsguard.assess.model import Fact, Options, Section
from pacsguard.assess.net import Pacer, dimse_association
from pacsguard.assess.policy import Access
from pacsguard.assess.services import Offered
from pacsguard.dicom.status import Dimse, succeeded
from pacsguard.dicom.uids import PATIENT_ROOT_FIND, STUDY_ROOT_FIND
from pacsguard.findings import Finding, Severity

FAMILY = "query"
TITLE = "Query robustness (SQL meta-characters in C-FIND)"
#: appended to a Patient ID nobody has; every one only reads (PS3.5 LO: 64 characters, no
#: backslash, which is the value separator)
PAYLOADS: tuple[str, ...] = ("'", "''", '"', "' OR '1'='1", "' OR 1=1 --", '" OR "1"="1',
                             "') OR ('1'='1", "';", "%", "_%", "' /*")
#: the payloads that are SQL LIKE wildcards, not quotes or tautologies (and the bare %)
WILDCARDS = frozenset({"%", "_%", "bare %"})
CAP = 200


def _identifier(model: str, patient_id: str) -> Any:
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY" if model == STUDY_ROOT_FIND else "PATIENT"
    ds.PatientID = patient_id
    if model == STUDY_ROOT_FIND:
        ds.StudyInstanceUID = ""
    else:
        ds.PatientName = ""
    return ds


def check(access: Access, offered: Offered, options: Options, pacer: Pacer) -> Section:
    started = time.monotonic()
    subject = options.target.text
    if access.why_not():
        return Section(FAMILY, TITLE, skipped=access.why_not(), incomplete=access.gap)
    model = STUDY_ROOT_FIND if STUDY_ROOT_FIND in offered else (
        PATIENT_ROOT_FIND if PATIENT_ROOT_FIND in offered else None)
    if model is None:
        return Section(FAMILY, TITLE, skipped="no C-FIND context accepted for an unknown "
                       "caller")
    nonce = "PGQ" + secrets.token_hex(4).upper()
    queries = [("baseline", nonce)] + [(p, nonce + p) for p in PAYLOADS] + [
        ("bare %", "%")]
    results: list[tuple[str, dimse.Outcome]] = []
    held = contextlib.ExitStack()  # the current association; a new one after an abort
    assoc: Any = None
    try:
        for label, value in queries:
            if assoc is None or not assoc.is_established:
                held.close()
                assoc = held.enter_context(dimse_association(
                    access.channel, access.called_aet, access.calling_aet, [model],
                    options.timeout, pacer))
                if assoc is None:
                    results.append((label, dimse.Outcome(OutcomeState.REFUSED)))
                    continue
            else:
                pacer.wait()
            results.append((label, dimse.find_on(assoc, model, _identifier(model, value),
                                                 options.timeout, CAP)))
            if label == "baseline" and not results[-1][1].processed:
                break
    finally:
        held.close()
    base = results[0][1]
    facts = [Fact("baseline", f"Patient ID {nonce}: {base.describe()}, {base.count} matches")]
    if not base.processed:
        return Section(FAMILY, TITLE, facts=tuple(facts),
                       skipped=f"the baseline C-FIND was not answered ({base.describe()}): "
                       "the unknown caller may not query",
                       seconds=time.monotonic() - started)
    changed: list[str] = []
    wildcards: list[str] = []
    broken: list[str] = []
    for label, out in results[1:]:
        shown = f"{label!r}: {out.describe()}, {out.count}{'+' if out.capped else ''} matches"
        if out.state != OutcomeState.ANSWERED or not (succeeded(out.status)
                                                      or out.status == Dimse.CANCELLED):
            broken.append(shown)
        elif out.count > base.count:
            (wildcards if label in WILDCARDS else changed).append(shown)
    facts.append(Fact("payloads sent", f"{len(results) - 1} (each appended to {nonce}, "
                      "except the bare %)"))
    facts.append(Fact("answered like the baseline",
                      str(len(results) - 1 - len(changed) - len(wildcards) - len(broken))))
    findings: list[Finding] = []
    if changed:
        findings.append(finding(
            "QUERY-INJECTION", Severity.CRITICAL,
            f"Baseline {base.count} matches; with meta-characters: {'; '.join(changed)}. "
            "A quote or tautology changed what the database matched (only counts were "
            "kept).", subject))
    if wildcards:
        findings.append(finding(
            "QUERY-LIKE-WILDCARD", Severity.LOW,
            f"Baseline {base.count} matches; with SQL LIKE wildcards: {'; '.join(wildcards)}"
            ". The value reaches a LIKE unescaped (DICOM's wildcards are * and ?); quotes "
            "and tautologies did not change the matches. Only counts were kept.", subject))
    if broken:
        findings.append(finding(
            "QUERY-ERROR-ON-METACHARS", Severity.MEDIUM,
            f"Baseline answered {base.describe()}; with meta-characters: "
            f"{'; '.join(broken)}.", subject))
    return Section(FAMILY, TITLE, tuple(findings), tuple(facts),
                   seconds=time.monotonic() - started)
