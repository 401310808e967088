"""Fuzz reproducers: a failing case written to a file that replays it
(format ``pacsguard-fuzz-reproducer/1``), and read back.

A reproducer is JSON: the target, the called AE title, seed and case number, what the node did,
and the steps (the bytes to send, hex, and where to wait for the A-ASSOCIATE-AC). For one-PDU
cases the raw bytes are written too (``.bin``: ``nc HOST PORT < FILE.bin`` replays them).
Replay with ``pacsguard assess-replay FILE HOST:PORT --authorized-by "NAME, reference"`` or
:func:`pacsguard.assess.fuzz.replay`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pacsguard.assess.fuzz_cases import Case, Step
from pacsguard.assess.model import ae_title
from pacsguard.assess.net import Channel
from pacsguard.errors import AssessError

FORMAT = "pacsguard-fuzz-reproducer/1"


def write(directory: Path, channel: Channel, called: str, seed: int, case: Case,
          outcome: str, detail: str, target: str) -> Path:
    """Write ``case`` (and its raw bytes, for a one-PDU case) to ``directory``; the path."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{channel.address.replace(':', '_')}-{channel.port}-seed{seed}-case{case.number}"
    path = directory / f"{stem}.json"
    doc = {"format": FORMAT, "target": target, "tls": channel.tls, "called_aet": called,
           "seed": seed, "case": case.number, "kind": case.kind,
           "description": case.description, "outcome": outcome, "detail": detail,
           "steps": [s.as_dict() for s in case.steps],
           "replay": f"pacsguard assess-replay {path} HOST:PORT --authorized-by "
                     "\"NAME, reference\"",
           "python": "pacsguard.assess.fuzz.replay(path, channel, called_aet)"}
    path.write_text(json.dumps(doc, indent=1) + "\n")
    if len(case.steps) == 1:  # one PDU: `nc HOST PORT < FILE.bin` replays it too
        (directory / f"{stem}.bin").write_bytes(case.steps[0].send)
    return path


@dataclass(frozen=True)
class Reproducer:
    target: str
    tls: bool
    called_aet: str
    seed: int
    case: Case


def load(path: Path) -> Reproducer:
    """A reproducer file, checked; :class:`AssessError` naming the file otherwise."""
    try:
        doc = json.loads(path.read_text())
        if doc.get("format") != FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, not {FORMAT!r}")
        steps = tuple(Step(await_ac=True) if s.get("await_ac") else
                      Step(bytes.fromhex(s["send"])) for s in doc["steps"])
        case = Case(int(doc["case"]), str(doc["kind"]), str(doc["description"]), steps)
        called, seed = doc["called_aet"], int(doc["seed"])
        if not isinstance(called, str):
            raise TypeError("called_aet is not a string")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AssessError(f"{path}: not a pacsguard fuzz reproducer ({exc})") from None
    return Reproducer(str(doc.get("target", "")), bool(doc.get("tls", False)),
                      ae_title(called, f"{path}: called_aet"), seed, case)
