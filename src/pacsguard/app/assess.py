"""The assessment use cases: assess one named DICOM node, and replay a fuzz reproducer to one
(docs/assess.md).

Everything that must be refused before anything is sent is checked here first, in this order:
the authorisation, the target (one host, one port), the client certificate files, the called
AE title. Nothing here prints; progress goes to an optional callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pacsguard.assess.fuzz import Replay, replay_findings
from pacsguard.assess.fuzz import replay as send_reproducer
from pacsguard.assess.model import (
    Assessment,
    Authorisation,
    Interrupted,
    Options,
    Section,
    TlsClient,
    ae_title,
    reproducers_folder,
)
from pacsguard.assess.net import Channel
from pacsguard.assess.runner import assess as run_checks
from pacsguard.errors import ConfigError
from pacsguard.findings import Finding, exit_status
from pacsguard.inventory.active import parse_target


def tls_client(cert: Path | None, key: Path | None, ca: Path | None = None) -> TlsClient:
    """The tester's client certificate, key and CA bundle, each an existing file."""
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together")
    for p in (cert, key, ca):
        if p is not None and not p.is_file():
            raise ConfigError(f"{p}: no such file")
    return TlsClient(cert, key, ca)


@dataclass(frozen=True)
class Assessed:
    """How an assessment ended: its result; or, interrupted (Ctrl-C), no result and what the
    cleanup of the test instances did (``cleanup`` None: nothing had been written)."""

    assessment: Assessment | None
    cleanup: Section | None = None

    @property
    def interrupted(self) -> bool:
        return self.assessment is None


def assess(target: str, authorized_by: str, *, called_aet: str | None = None,
           timeout: float = 3.0, rate: float = 10.0, guesses: int | None = None,
           tls_port: int | None = None, tls_cert: Path | None = None,
           tls_key: Path | None = None, tls_ca: Path | None = None, http: str | None = None,
           http_user: str | None = None, http_password: str | None = None,
           allow_write: bool = False, fuzz: int = 0, seed: int | None = None,
           reproducers: Path | None = None, json_report: Path | None = None,
           html_report: Path | None = None, data_dir: Path | None = None,
           on_progress: Callable[[str], None] | None = None) -> Assessed:
    """Assess the node at ``target`` (``HOST:PORT``). ``json_report`` and ``html_report`` are
    only where the reports will go (fuzz reproducers go beside them by default); writing them
    is the caller's. Ctrl-C during the checks ends in an ``interrupted`` result."""
    authorisation = Authorisation.parse(authorized_by)  # refused before anything is sent
    t = parse_target(target)
    client = tls_client(tls_cert, tls_key, tls_ca)
    called = ae_title(called_aet, "--called-aet") if called_aet is not None else None
    options = Options(t, authorisation, called_aet=called, timeout=timeout, rate=rate,
                      guesses=guesses, tls_port=tls_port, tls=client, http=http,
                      http_user=http_user, http_password=http_password,
                      allow_write=allow_write, fuzz_cases=fuzz, seed=seed,
                      reproducers=reproducers_folder(reproducers, json_report, html_report),
                      data_dir=data_dir, data_dir_explicit=data_dir is not None)
    try:
        return Assessed(run_checks(options, on_progress))
    except Interrupted as stop:
        return Assessed(None, stop.cleanup)
    except KeyboardInterrupt:  # before anything was written
        return Assessed(None)


def save_report(path: Path, text: str) -> None:
    """Write a rendered report to ``path`` whole or not at all (through a temporary file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


@dataclass(frozen=True)
class Replayed:
    """A reproducer sent to a node: what the node did, and the findings (none: it survived)."""

    target: str
    result: Replay
    findings: tuple[Finding, ...]

    @property
    def exit_status(self) -> int:
        """6 it crashed, 5 it stopped answering, 0 it survived (docs/findings.md)."""
        return exit_status(list(self.findings))


def replay(reproducer: Path, target: str, authorized_by: str, *,
           called_aet: str | None = None, timeout: float = 3.0, tls: bool = False,
           tls_cert: Path | None = None, tls_key: Path | None = None) -> Replayed:
    """Send one fuzz reproducer to the node at ``target``, then check that it is alive. The
    reproducer and the called AE title are checked before anything is sent."""
    Authorisation.parse(authorized_by)
    t = parse_target(target)
    client = tls_client(tls_cert, tls_key)
    called = ae_title(called_aet, "--called-aet") if called_aet is not None else None
    channel = Channel(t.host, t.address, t.port, tls=tls, client=client)
    result = send_reproducer(reproducer, channel, called, timeout)
    return Replayed(t.text, result, tuple(replay_findings(result, reproducer, t.text)))
