"""The demo: build a sample archive, record it, attack it as an attacker would, verify it, and
say which of the attacks pacsguard caught (:mod:`pacsguard.demo.scenario`).

``say`` hears the story as it happens (what was built, recorded and attacked); the result
holds the verification and one row per attack, plus one for the ledger row the attacker
rewrote behind the tool's back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pacsguard.app.verify import verify_folders
from pacsguard.integrity.status import Discrepancy, Status
from pacsguard.integrity.verify import VerifyReport
from pacsguard.workspace import Workspace


@dataclass(frozen=True)
class Caught:
    """One attack, the status it must get, and what pacsguard said of its file."""

    what: str
    file: str  # relative to the archive, or "(ledger database)"
    expected: Status
    said: tuple[Status, ...]  # empty: pacsguard said nothing

    @property
    def ok(self) -> bool:
        return self.expected in self.said


@dataclass(frozen=True)
class DemoResult:
    workspace: Workspace
    archive: Path
    report: VerifyReport
    discrepancies: tuple[Discrepancy, ...]  # worst first
    caught: tuple[Caught, ...]  # the attacks in the order made, then the ledger row

    @property
    def detected(self) -> int:
        return sum(c.ok for c in self.caught)

    @property
    def all_detected(self) -> bool:
        return self.detected == len(self.caught)


def run(workdir: Path, say: Callable[[str], None]) -> DemoResult:
    """Build the demo under ``workdir`` (replaced if present), attack it and verify it."""
    from pacsguard.demo.scenario import run_demo  # pydicom and numpy: only the demo needs them

    ws, archive, attacks = run_demo(workdir, say)
    verified = verify_folders(ws, [archive])
    found = tuple(verified.discrepancies)
    caught = [Caught(a.what, str(Path(a.path).relative_to(archive)), a.expected,
                     tuple(f.status for f in found if f.path == a.path)) for a in attacks]
    ledger_flagged = any(f.status is Status.LEDGER_TAMPERED and f.path == "(ledger)"
                         for f in found)
    caught.append(Caught("edited a ledger row behind the tool's back", "(ledger database)",
                         Status.LEDGER_TAMPERED,
                         (Status.LEDGER_TAMPERED,) if ledger_flagged else ()))
    return DemoResult(ws, archive, verified.report, found, tuple(caught))
