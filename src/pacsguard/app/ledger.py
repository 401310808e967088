"""The ledger's use cases (docs/ledger.md): set up a data directory, show the verifier key,
sign a checkpoint, prove an instance, audit against a witnessed checkpoint.

``pacsguard init`` and ``pacsguard ledger …`` call these and print what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pacsguard.errors import ConfigError
from pacsguard.integrity.ledger import InclusionProof, Ledger
from pacsguard.workspace import Workspace


@dataclass(frozen=True)
class Initialised:
    """What ``init`` did to a data directory, one line per step."""

    data_dir: Path
    done: tuple[str, ...]


@dataclass(frozen=True)
class Audited:
    """A passed audit: the lines of its report (what was compared, what verified)."""

    lines: tuple[str, ...]


def init(ws: Workspace, database_url: str | None = None, origin: str | None = None,
         header_profile: Path | None = None) -> Initialised:
    """Create the data directory, the signing key and the ledger database (or join the
    ledger the database already holds). ``header_profile`` names a file listing the
    attributes archives may rewrite; the default is docs/fingerprint.md's list."""
    from pacsguard.integrity.profile import DEFAULT_PROFILE, HeaderProfile

    profile = DEFAULT_PROFILE
    if header_profile is not None:
        try:
            profile = HeaderProfile.from_text(header_profile.read_text())
        except OSError as exc:
            raise ConfigError(f"{header_profile}: cannot be read ({exc.strerror})") from None
    return Initialised(ws.data_dir, tuple(ws.init(database_url, origin, profile)))


def verifier_key(ws: Workspace) -> str:
    """The verifier key in signed-note form (name+keyhash+base64 key), for witnesses."""
    ws.settings()
    if not ws.pub_path.exists():
        raise ConfigError(f"{ws.pub_path} is missing; run 'pacsguard init'")
    return ws.pub_path.read_text().strip()


def sign_checkpoint(ws: Workspace, ledger: Ledger | None = None) -> str:
    """Sign a checkpoint of the ledger as it is now (the latest one again if it has not
    grown), keep its copy outside the database, and return the signed note. ``ledger`` is one
    the caller holds open with its signing key; without it, the workspace's is opened."""
    if ledger is not None:
        note = ledger.sign_checkpoint()
        ws.save_checkpoint_copy(note)
        return note
    ledger, _, _ = ws.open_ledger()
    try:
        return sign_checkpoint(ws, ledger)
    finally:
        ledger.engine.dispose()


def prove(ws: Workspace, sop_instance_uid: str, sign: bool = False) -> InclusionProof:
    """An inclusion proof of the instance's newest entry against the latest checkpoint;
    ``sign`` first signs a checkpoint of the ledger as it is now (needs ledger.key), so that
    an instance recorded since the latest one can be proven."""
    ledger, _, _ = ws.open_ledger(read_only=not sign)
    try:
        if sign:
            sign_checkpoint(ws, ledger)
        return ledger.prove(sop_instance_uid)
    finally:
        ledger.engine.dispose()


def audit(ws: Workspace, checkpoint: Path) -> Audited:
    """Prove that the ledger extends the checkpoint a witness kept in the file
    ``checkpoint``; raises a ``LedgerError`` naming what is wrong if it was rewritten or
    rolled back."""
    try:
        note = checkpoint.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{checkpoint}: cannot be read ({exc})") from None
    ledger, _, _ = ws.open_ledger(read_only=True)
    try:
        lines: Sequence[str] = ledger.audit(note)
    finally:
        ledger.engine.dispose()
    return Audited(tuple(lines))
