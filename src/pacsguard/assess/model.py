"""The values that flow through an assessment: what to assess and how (:class:`Options`),
what one check family saw (:class:`Section`), and the whole result (:class:`Assessment`).

An assessment whose checks could not all run (the node did not answer as DICOM, it wants a
client certificate, no called AE title is known, the fuzz campaign could not start) is
*incomplete*: it gives no verdict and exits 2 (docs/findings.md: no verdict), whatever the
findings it did raise.

Nothing here carries patient data. Facts and evidence name counts, attribute keywords,
statuses, AE titles pacsguard made up, UIDs pacsguard generated, and protocol details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pacsguard.errors import AssessError
from pacsguard.findings import Finding, Severity, exit_status, worst
from pacsguard.inventory.active import Target

#: The most fuzz cases one run may send, and the most default called AE titles it may try.
MAX_FUZZ_CASES = 10_000
MAX_RATE = 50.0  # requests per second: a ceiling on --rate, whatever is asked
#: docs/findings.md: 2 is an error or an incomplete assessment, no verdict
EXIT_NO_VERDICT = 2
AE_TITLE_LENGTH = 16  # PS3.5 §6.2, VR AE

_AUTHORISATION = re.compile(r"^\s*(?P<name>[^,]*[^,\s][^,]*),\s*(?P<ref>\S.*)$")


@dataclass(frozen=True)
class Authorisation:
    """Who authorised the test, and their reference (a ticket, a letter, a contract)."""

    name: str
    reference: str

    @classmethod
    def parse(cls, text: str) -> Authorisation:
        m = _AUTHORISATION.match(text or "")
        if m is None or len(text) > 300:
            raise AssessError(
                "--authorized-by must name who authorised this test and their reference, as "
                "\"NAME, reference\" (e.g. \"J. Smith CISO, change CHG-1234\"); pacsguard "
                "assesses only a node whose owner has authorised it")
        return cls(m.group("name").strip(), m.group("ref").strip())

    def __str__(self) -> str:
        return f"{self.name}, {self.reference}"


def ae_title(value: str, what: str) -> str:
    """``value`` as an AE title (PS3.5 §6.2, VR AE: 1 to 16 characters of the default
    repertoire, no backslash, no control character, not only spaces), leading and trailing
    spaces dropped; else :class:`AssessError` naming ``what`` (an option, a file)."""
    bad = ""
    if len(value) > AE_TITLE_LENGTH:
        bad = f"it has {len(value)} characters; an AE title has at most {AE_TITLE_LENGTH}"
    elif not value.strip():
        bad = "it is empty"
    elif "\\" in value:
        bad = "a backslash separates DICOM values and is not allowed in an AE title"
    elif any(not " " <= c <= "~" for c in value):
        bad = ("only printable ASCII characters are allowed in an AE title (no accents, "
               "tabs or control characters)")
    if bad:
        raise AssessError(f"{what} {value!r} is not a valid AE title: {bad} (PS3.5 §6.2); "
                          "nothing was contacted")
    return value.strip()


@dataclass(frozen=True)
class TlsClient:
    """A client certificate and key to present, and a CA bundle to verify the peer with."""

    certificate: Path | None = None
    key: Path | None = None
    ca: Path | None = None


@dataclass(frozen=True)
class Options:
    target: Target
    authorisation: Authorisation
    called_aet: str | None = None  # the node's own AE title, when the tester knows it
    timeout: float = 3.0  # seconds, every network step
    rate: float = 10.0  # requests (connections, handshakes, queries, HTTP) per second
    #: default called AE titles tried at most; None: all of them (24) without --called-aet,
    #: none with it (the tester named the title: guessing others is asked for, not assumed)
    guesses: int | None = None
    tls_port: int | None = None
    tls: TlsClient = TlsClient()
    http: str | None = None
    http_user: str | None = None
    http_password: str | None = field(default=None, repr=False)
    allow_write: bool = False
    fuzz_cases: int = 0
    seed: int | None = None
    reproducers: Path = Path(".")  # see reproducers_folder
    data_dir: Path | None = None  # where imported advisories are; None: the default, if any
    data_dir_explicit: bool = False


def reproducers_folder(given: Path | None, *reports: Path | None) -> Path:
    """Where fuzz reproducers go: ``given``; else next to the first report written to a file
    (``--json``, then ``--html``), so the report and the reproducers its findings name stay
    together; else the current folder. Their names say target, seed and case."""
    if given is not None:
        return given
    for report in reports:
        if report is not None and str(report) != "-":
            return report.parent
    return Path(".")


def guess_limit(options: Options, available: int) -> int:
    """How many default called AE titles to try (see :attr:`Options.guesses`)."""
    if options.guesses is not None:
        return max(0, min(options.guesses, available))
    return 0 if options.called_aet else available


@dataclass(frozen=True)
class Fact:
    """One observation worth showing, whether or not it is a problem."""

    name: str
    value: str


@dataclass(frozen=True)
class Section:
    """What one check family did: its findings, its facts, or why it did not run."""

    family: str
    title: str
    findings: tuple[Finding, ...] = ()
    facts: tuple[Fact, ...] = ()
    skipped: str = ""
    seconds: float = 0.0
    #: the check was due but could not run (``skipped`` says why), or ran only in part
    #: (``gap`` says what was left out): a gap in the assessment, not a result. A check the
    #: tester did not ask for, or one made moot by the node refusing the unknown caller, is
    #: skipped without being a gap.
    incomplete: bool = False
    gap: str = ""

    @property
    def why(self) -> str:
        """Why the section is incomplete (or skipped)."""
        return self.skipped or self.gap

    def as_dict(self) -> dict[str, Any]:
        return {"family": self.family, "title": self.title, "skipped": self.skipped,
                "incomplete": self.incomplete, "gap": self.gap,
                "seconds": round(self.seconds, 3),
                "facts": [{"name": f.name, "value": f.value} for f in self.facts],
                "findings": [f.as_dict() for f in self.findings]}


class Verdict(StrEnum):
    """An assessment's verdict (docs/assess.md): none when incomplete, else from the highest
    severity found."""

    INCOMPLETE = "incomplete"
    NOT_ACCEPTABLE = "not acceptable"  # high or critical
    ACCEPTABLE_WITH_CONDITIONS = "acceptable with conditions"  # medium
    ACCEPTABLE = "acceptable"


@dataclass(frozen=True)
class Assessment:
    target: str
    address: str
    port: int
    authorisation: Authorisation
    started: str
    finished: str
    seconds: float
    tool_version: str
    settings: tuple[Fact, ...]
    sections: tuple[Section, ...]

    @property
    def findings(self) -> list[Finding]:
        """Every finding, worst first, then by id."""
        out = [f for s in self.sections for f in s.findings]
        out.sort(key=lambda f: (-int(f.severity), f.id))
        return out

    @property
    def worst(self) -> Severity:
        return worst(self.findings)

    @property
    def gaps(self) -> list[Section]:
        """The checks that were due but could not run."""
        return [s for s in self.sections if s.incomplete]

    @property
    def complete(self) -> bool:
        return not self.gaps

    @property
    def verdict(self) -> Verdict:
        if not self.complete:
            return Verdict.INCOMPLETE
        if self.worst >= Severity.HIGH:
            return Verdict.NOT_ACCEPTABLE
        return (Verdict.ACCEPTABLE_WITH_CONDITIONS if self.worst is Severity.MEDIUM
                else Verdict.ACCEPTABLE)

    @property
    def exit_status(self) -> int:
        """2 (no verdict) when incomplete; else from the highest severity (docs/findings.md)."""
        return exit_status(self.findings) if self.complete else EXIT_NO_VERDICT

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": "pacsguard-assessment/1",
            "target": self.target, "address": self.address, "port": self.port,
            "authorized_by": {"name": self.authorisation.name,
                              "reference": self.authorisation.reference},
            "started": self.started, "finished": self.finished,
            "seconds": round(self.seconds, 3), "tool_version": self.tool_version,
            "settings": {f.name: f.value for f in self.settings},
            "verdict": self.verdict, "complete": self.complete,
            "incomplete_checks": [{"family": s.family, "title": s.title, "why": s.why}
                                  for s in self.gaps],
            "worst": self.worst.label, "exit_status": self.exit_status,
            "findings": [f.as_dict() for f in self.findings],
            "sections": [s.as_dict() for s in self.sections],
        }


class Interrupted(KeyboardInterrupt):
    """The tester interrupted the assessment (Ctrl-C) after something may have been written;
    ``cleanup`` is what the cleanup of the test instances then did (None: writes were not
    allowed)."""

    def __init__(self, cleanup: Section | None) -> None:
        super().__init__("assessment interrupted")
        self.cleanup = cleanup
