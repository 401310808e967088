"""Small, hand-built inputs for the output formats: a listing with every kind of cell (a
timestamp, a long list of identifiers, a float, None, non-ASCII text, a sentence that must
wrap at 80 columns), a governance report over two machines, and an assessment. Built by hand,
not from a database, so that their rendering can be pinned byte for byte."""

from __future__ import annotations

from typing import Any

from pacsguard.advisories.decisions import Decision
from pacsguard.advisories.match import Match, MatchStatus
from pacsguard.assess.model import Assessment, Authorisation, Fact, Section
from pacsguard.findings import Finding, Severity
from pacsguard.inventory.machines import Machine
from pacsguard.inventory.register import RegisterEntry
from pacsguard.reports.status import Item, MachineStatus, Risk

ROWS: list[dict[str, Any]] = [
    {"id": 7, "status": "affected", "seen": "2026-11-27T10:15:00+00:00",
     "cves": ["CVE-2021-27410", "CVE-2021-27412", "CVE-2021-27414"], "cvss": 9.8,
     "why": "the model and version 3.1 lie in the affected range the advisory names, and no "
            "fix is recorded for this machine",
     "only_json": {"nested": True}},
    {"id": 12, "status": "needs review", "seen": "2026-01-02T00:00:00+00:00", "cves": [],
     "cvss": None, "why": "vendor named, product \"Vue PACS\" unknown, Größe, 1,5 mm",
     "only_json": None},
    {"id": 3, "status": "fixed", "seen": "", "cves": ["CVE-2019-1"], "cvss": 4.25,
     "why": None, "only_json": [1, 2]},
]
COLUMNS = [("id", "id"), ("status", "status"), ("seen", "last seen"), ("cves", "CVEs"),
           ("cvss", "CVSS"), ("why", "why")]
TABLE_COLUMNS: list[str | tuple[str, str]] = ["status", ("id", "machine"), "seen", "cves",
                                              "why"]
WIDE_COLUMNS: list[str | tuple[str, str]] = ["id", "status", "seen", "cves", "cvss", "why"]

TITLE = "3 advisory x machine results"


def _match(tracking_id: str, machine: Machine, status: MatchStatus, cvss: float | None,
           title: str, fixes: tuple[str, ...] = ()) -> Match:
    return Match(tracking_id, "2", title, "2026-09-01T00:00:00Z", machine.id, machine.label,
                 status, ("CVE-2026-0002", "CVE-2026-0001"), cvss,
                 ("Update to 3.2 <or later>",), ("model matches", "version 3.1 < 3.2"), fixes)


def governance_statuses() -> list[MachineStatus]:
    """Two machines: a PACS with an overdue advisory, a decision and a passed support date;
    a CT with one advisory that needs review and one fixed. Titles quote HTML."""
    pacs = Machine(1, "Philips", "Philips Medical Systems", "Vue PACS", "VUE-01", "", "St X",
                   ("OT",), ("12.2.1",), "2026-01-01T00:00:00Z", "2026-11-20T08:00:00Z", 40,
                   "images")
    ct = Machine(2, "GE", "GE MEDICAL SYSTEMS", "Optima CT660", "", "CT1", "St X", ("CT",),
                 ("5.1", "5.2"), "2026-02-01T00:00:00Z", "2026-11-21T08:00:00Z", 12, "images")
    decision = Decision(5, "ICSMA-21-187-01", 1, "mitigated",
                        {"what": "own VLAN", "until": "2026-10-31"}, "PACS manager",
                        "2026-09-10T12:00:00Z", "ab" * 32)
    m1 = _match("ICSMA-21-187-01", pacs, MatchStatus.AFFECTED, 9.8,
                "Philips Vue PACS <script>alert(1)</script>", ("12.2.8",))
    m2 = _match("ICSMA-18-025-01", pacs, MatchStatus.AFFECTED, None, "no score & no date")
    m3 = _match("ICSMA-21-187-01", ct, MatchStatus.NEEDS_REVIEW, 7.5,
                "Philips Vue PACS <script>alert(1)</script>")
    m4 = _match("ICSMA-17-215-01", ct, MatchStatus.FIXED, 5.3, "fixed on this one")
    pacs_items = [
        Item(m1, decision, 87, "overdue", "mitigation expired on 2026-10-31: " +
             decision.summary()),
        Item(m2, None, None, "open", "no decision yet"),
    ]
    ct_items = [Item(m3, None, 87, "overdue", "no decision 87 days after publication "
                     "(limit 30)")]
    return [
        MachineStatus(pacs, RegisterEntry(1, location="Radiology <basement>"), pacs_items,
                      ["support contract ended 2026-06-30"],
                      Risk(5, 5, ("likelihood 5: 2 open advisories, highest CVSS 9.8",
                                  "consequence 5: archive"))),
        MachineStatus(ct, None, ct_items, [], Risk(4, 4, ("likelihood 4", "consequence 4")),
                      [m4]),
    ]


def assessment(complete: bool = True) -> Assessment:
    """A node with a high and an info finding, quoting HTML in evidence and authorisation."""
    evil = "<script>alert(1)</script>"
    findings = (Finding("WEB-NO-AUTH", Severity.HIGH, "Web API without authentication",
                        f"the node said {evil}", "Turn on authentication.", "127.0.0.1:8042"),
                Finding("DICOM-ECHO", Severity.INFO, "Verification answered", "C-ECHO 0x0000",
                        "Nothing to do."))
    sections = (
        Section("association", "Association policy", findings[1:], (Fact("accepted", "yes"),),
                seconds=0.25),
        Section("web", "Web APIs", findings[:1], (Fact("server", evil),), seconds=1.5),
        Section("tls", "TLS", skipped="no TLS port given"),
        Section("fuzz", "Fuzzing", skipped="" if complete else "the node stopped answering",
                incomplete=not complete, gap="" if complete else "12 of 50 cases sent"),
    )
    return Assessment("pacs.example:104", "127.0.0.1", 104,
                      Authorisation("<b>Eve</b> CISO", "change CHG-1 & more"),
                      "2026-11-27T10:00:00Z", "2026-11-27T10:00:09Z", 9.04, "0.1.0",
                      (Fact("rate", "10 per second"), Fact("timeout", "3.0 s")), sections)
