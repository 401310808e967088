"""Operators' decisions on advisory matches: an append-only, hash-chained audit trail.

A decision names a tracking id (not a revision, so it survives re-import and new revisions)
and a machine. Kinds and their required details:

    patched          date (YYYY-MM-DD), version
    mitigated        what, until (YYYY-MM-DD)
    accepted_risk    why, review (YYYY-MM-DD); ``by`` is who accepts it
    not_applicable   why

Every decision is a new row; none is ever updated or deleted, and the newest for a pair is the
one in force. Each row carries ``chain = SHA-256(previous chain || canonical JSON of the row)``
(the first row chains from 32 zero bytes), so a row edited, removed or reordered behind the
tool's back breaks every chain value after it; ``check_chain`` says where.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.dates import is_iso_date, utc_now
from pacsguard.errors import ConfigError, LedgerError, StoreError
from pacsguard.store.engine import advisory_lock
from pacsguard.store.schema import decisions, machines

_PG_LOCK_KEY = 0x64656331  # "dec1": serialises decision appends on PostgreSQL
GENESIS = bytes(32)


class DecisionKind(StrEnum):
    """What was decided about an advisory for one machine; stored as ``decisions.kind``."""

    PATCHED = "patched"
    MITIGATED = "mitigated"
    ACCEPTED_RISK = "accepted_risk"
    NOT_APPLICABLE = "not_applicable"


#: The details each kind requires (and the only ones it takes)
KINDS: dict[DecisionKind, tuple[str, ...]] = {
    DecisionKind.PATCHED: ("date", "version"),
    DecisionKind.MITIGATED: ("what", "until"),
    DecisionKind.ACCEPTED_RISK: ("why", "review"),
    DecisionKind.NOT_APPLICABLE: ("why",),
}
_DATE_FIELDS = frozenset({"date", "until", "review"})


@dataclass(frozen=True)
class Decision:
    id: int
    tracking_id: str
    machine_id: int
    kind: DecisionKind
    details: dict[str, str]
    decided_by: str
    decided_at: str
    chain: str

    def summary(self) -> str:
        d = self.details
        what = {
            DecisionKind.PATCHED: lambda: f"patched to {d['version']} on {d['date']}",
            DecisionKind.MITIGATED: lambda: f"mitigated ({d['what']}) until {d['until']}",
            DecisionKind.ACCEPTED_RISK: lambda: f"risk accepted ({d['why']}), review "
                                                f"{d['review']}",
            DecisionKind.NOT_APPLICABLE: lambda: f"not applicable ({d['why']})",
        }[self.kind]()
        return f"{what}; {self.decided_by}, {self.decided_at[:10]}"


def _canonical(tracking_id: str, machine_id: int, kind: str, details: dict[str, str],
               by: str, at: str) -> bytes:
    return json.dumps({"tracking_id": tracking_id, "machine_id": machine_id, "kind": kind,
                       "details": details, "decided_by": by, "decided_at": at},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def decision_kind(kind: str) -> DecisionKind:
    """The kind a word names; a clear error listing the kinds when it names none."""
    found = next((k for k in DecisionKind if k == kind), None)
    if found is None:
        raise ConfigError(f"decision {kind!r}: use one of {', '.join(KINDS)}")
    return found


def check_details(kind: str, details: dict[str, str]) -> dict[str, str]:
    """The details a kind needs, trimmed; a clear error naming what is missing or wrong."""
    need = KINDS[decision_kind(kind)]
    clean = {k: v.strip() for k, v in details.items() if v is not None and v.strip()}
    missing = [k for k in need if k not in clean]
    if missing:
        raise ConfigError(f"a '{kind}' decision needs {', '.join('--' + k for k in missing)}")
    extra = sorted(set(clean) - set(need))
    if extra:
        raise ConfigError(f"a '{kind}' decision does not take "
                          f"{', '.join('--' + k for k in extra)}")
    for k in need:
        if k in _DATE_FIELDS and not is_iso_date(clean[k]):
            raise ConfigError(f"--{k} {clean[k]!r} is not a date (YYYY-MM-DD)")
    return clean


def record_decision(engine: Engine, tracking_id: str, machine_id: int, kind: str,
                    details: dict[str, str], by: str) -> Decision:
    """Append one decision to the trail; return it."""
    details = check_details(kind, details)
    decided = decision_kind(kind)
    if not by.strip():
        raise ConfigError("--by is required: who made this decision")
    try:
        with engine.begin() as conn:
            advisory_lock(conn, _PG_LOCK_KEY)
            if conn.execute(select(machines.c.id).where(machines.c.id == machine_id)
                            ).first() is None:
                raise ConfigError(f"no machine with id {machine_id}; 'pacsguard inventory "
                                  "list' shows the ids")
            prev = conn.execute(select(decisions.c.chain).order_by(decisions.c.id.desc())
                                .limit(1)).scalar()
            at = utc_now()
            raw = _canonical(tracking_id, machine_id, decided, details, by.strip(), at)
            chain = hashlib.sha256((bytes.fromhex(prev) if prev else GENESIS) + raw).hexdigest()
            result = conn.execute(decisions.insert().values(
                tracking_id=tracking_id, machine_id=machine_id, kind=decided,
                details=json.dumps(details, sort_keys=True, ensure_ascii=False),
                decided_by=by.strip(), decided_at=at, chain=chain))
            key = result.inserted_primary_key
            did = int(key[0]) if key else 0
    except SQLAlchemyError as exc:
        raise StoreError(f"could not record the decision: {getattr(exc, 'orig', exc)}"
                         ) from None
    return Decision(did, tracking_id, machine_id, decided, details, by.strip(), at, chain)


def _row(r: Any) -> Decision:
    try:
        kind = DecisionKind(r.kind)
    except ValueError:
        raise LedgerError(
            f"decision {r.id} ({r.tracking_id}, machine {r.machine_id}) is of a kind this "
            f"version of pacsguard does not know ({r.kind!r}; it knows "
            f"{', '.join(DecisionKind)}): the trail was edited behind pacsguard's back, or "
            "written by a newer pacsguard; use that version, or restore the database from a "
            "backup") from None
    return Decision(int(r.id), r.tracking_id, int(r.machine_id), kind,
                    json.loads(r.details), r.decided_by, r.decided_at, r.chain)


def all_decisions(engine: Engine) -> list[Decision]:
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(select(decisions).order_by(decisions.c.id))]


def current_decisions(engine: Engine) -> dict[tuple[str, int], Decision]:
    """The decision in force for each (tracking id, machine): the newest."""
    return {(d.tracking_id, d.machine_id): d for d in all_decisions(engine)}


def check_chain(engine: Engine) -> list[str]:
    """Problems with the trail (empty when every row still chains)."""
    problems = []
    prev = GENESIS
    for d in all_decisions(engine):
        raw = _canonical(d.tracking_id, d.machine_id, d.kind, d.details, d.decided_by,
                         d.decided_at)
        expected = hashlib.sha256(prev + raw).hexdigest()
        if expected != d.chain:
            problems.append(f"decision {d.id} ({d.tracking_id}, machine {d.machine_id}) does "
                            "not chain from the one before it: the trail was edited, or a "
                            "row removed or reordered")
            break
        prev = bytes.fromhex(d.chain)
    return problems
