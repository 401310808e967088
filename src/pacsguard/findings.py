"""Findings: what a security check (``assess``, ``scan``) reports, and the exit status they give.

A finding is one fact a PACS team can act on: a stable id (``ASSOC-ANY-CALLING``,
``PREAMBLE-PE``), a severity, the evidence seen, and the concrete remediation. Findings never
carry patient data: evidence names counts, attribute keywords, offsets and byte signatures,
never values read from a patient's record.

Exit status of a command that reports findings (docs/findings.md):

* 0: nothing above ``info``;
* 3, 4, 5, 6: the highest severity found was ``low``, ``medium``, ``high``, ``critical``;
* 2 stays what it is for every command: an error (bad input, unreachable peer), no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """Ordered, so ``max()`` gives the worst. Values follow common scanner practice."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}: use info, low, medium, high or "
                             "critical") from None


EXIT_FOR = {Severity.INFO: 0, Severity.LOW: 3, Severity.MEDIUM: 4, Severity.HIGH: 5,
            Severity.CRITICAL: 6}


@dataclass(frozen=True)
class Finding:
    """One reportable fact. ``subject`` says what it is about (a file path, ``HOST:PORT``)."""

    id: str
    severity: Severity
    title: str
    evidence: str
    remediation: str
    subject: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity.label, "title": self.title,
                "evidence": self.evidence, "remediation": self.remediation,
                "subject": self.subject}


def worst(findings: list[Finding]) -> Severity:
    return max((f.severity for f in findings), default=Severity.INFO)


def exit_status(findings: list[Finding]) -> int:
    """The process exit status for these findings (see the module docstring)."""
    return EXIT_FOR[worst(findings)]
