"""Resilience: a bounded, reproducible fuzz campaign against the node's Upper Layer and C-STORE.

**Cases.** ``--fuzz N`` sends N cases generated from a seed (printed, and in the report: the
same seed, N and called AE title give the same bytes); :mod:`pacsguard.assess.fuzz_cases` says
what they are. Nothing destructive is ever sent: no command but C-STORE of the labelled test
instance (only with ``--allow-write``) and C-ECHO.

**After every case** the connection is closed and one C-ECHO association checks the node is
alive (:func:`pacsguard.assess.net.echo`), retried for up to twice the timeout. Each case and
each liveness check waits its turn in the pacer, so a campaign sends at most ``--rate``
connections per second (about half as many cases). Connection
refused: ``FUZZ-CRASH``. Connected but unanswered: ``FUZZ-HANG`` (also when it answers again
later; the campaign then goes on). A node that does not come back ends the campaign.

**Reproducers.** A failing case is written to ``--reproducers DIR`` (default: the folder of
the ``--json`` or ``--html`` report, else the current folder) by
:mod:`pacsguard.assess.reproducer`. Replay with
``pacsguard assess-replay FILE HOST:PORT --authorized-by "NAME, reference"`` or
:func:`replay`.
"""

from __future__ import annotations

import contextlib
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pacsguard.assess import reproducer
from pacsguard.assess.catalog import finding
from pacsguard.assess.fuzz_cases import Case, campaign
from pacsguard.assess.model import MAX_FUZZ_CASES, Fact, Options, Section, ae_title
from pacsguard.assess.net import (
    Channel,
    Liveness,
    LivenessState,
    Pacer,
    Reply,
    echo,
    open_socket,
    random_aet,
    read_answer,
    read_pdu,
)
from pacsguard.assess.policy import Access
from pacsguard.assess.write import Written
from pacsguard.dicom.status import Pdu
from pacsguard.errors import AssessError, AssociationError, Ending
from pacsguard.findings import Finding, Severity

FAMILY = "fuzz"
TITLE = "Resilience (fuzz campaign)"
CASE_WAIT = 0.25  # seconds to watch the node's reaction to a case before closing
MAX_REPRODUCERS = 5


class Failure(StrEnum):
    """What a case did to the node (see :func:`failure`)."""

    CRASH = "crash"  # nothing listens any more
    HANG = "hang"  # it stopped answering, or answered wrongly, for a while


# -- running -----------------------------------------------------------------------------------
def send_case(channel: Channel, case: Case, timeout: float, wait: float = CASE_WAIT) -> str:
    """Send one case; return what the node did (``A-ABORT``, ``closed``, ``silent``...)."""
    try:
        sock = open_socket(channel, timeout)
    except ConnectionRefusedError:
        return "refused"
    except (OSError, ssl.SSLError) as exc:
        return f"no connection ({exc.__class__.__name__})"
    try:
        for step in case.steps:
            if step.await_ac:
                answer = read_answer(sock, [], timeout)
                if answer.outcome != Reply.ACCEPTED or not any(
                        c.id == 1 and c.result == 0 for c in answer.contexts):
                    return f"not accepted ({answer.describe()})"
                continue
            try:
                sock.sendall(step.send)
            except (OSError, ssl.SSLError):
                return "closed while sending"
        try:
            kind, _ = read_pdu(sock, wait, limit=1 << 24)
        except TimeoutError:
            return "silent"
        except AssociationError as exc:
            return "closed" if exc.reason is Ending.CLOSED else "garbage"
        except (OSError, ssl.SSLError):
            return "closed"
        return Pdu(kind).name.replace("_", "-")  # A-ABORT, A-ASSOCIATE-AC...: known types
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def alive_after(channel: Channel, called: str, timeout: float,
                pacer: Pacer | None = None) -> tuple[Liveness, Liveness]:
    """(first check, final check): retried for up to twice the timeout after a failure. Each
    check waits its turn in ``pacer``, like every other request."""
    calling = random_aet("PGL")
    first = echo(channel, called, calling, timeout, pacer)
    last = first
    deadline = time.monotonic() + 2 * timeout
    while not last.alive and time.monotonic() < deadline:
        time.sleep(min(0.5, timeout / 4))
        last = echo(channel, called, calling, timeout, pacer)
    return first, last


def failure(first: Liveness, last: Liveness) -> Failure | None:
    """A crash (nothing listens any more), a hang (it stopped answering, or answered
    wrongly, for a while) or None (alive)."""
    if first.alive:
        return None
    if LivenessState.REFUSED in (first.state, last.state):
        return Failure.CRASH
    return Failure.HANG


def check(access: Access, options: Options, pacer: Pacer, written: list[Written],
          progress: Callable[[str], None] | None = None) -> Section:
    """Run the campaign. Every data-set case is appended to ``written`` before it is sent
    (the caller cleans up from that list, whatever happens)."""
    started = time.monotonic()
    subject = options.target.text
    n = min(options.fuzz_cases, MAX_FUZZ_CASES)
    if n <= 0:
        return Section(FAMILY, TITLE, skipped="not asked: give --fuzz N")
    if not access.dicom:
        return Section(FAMILY, TITLE, skipped="the node did not answer as DICOM",
                       incomplete=True)
    channel, called = access.channel, access.called_aet
    before = echo(channel, called, random_aet("PGL"), options.timeout, pacer)
    if not before.alive:
        return Section(FAMILY, TITLE, skipped=f"the node failed the liveness check before "
                       f"the campaign ({before.state}: {before.detail})", incomplete=True)
    seed = options.seed if options.seed is not None else secrets.randbits(32)
    with_datasets = options.allow_write and access.associates
    if progress is not None:
        progress(f"fuzz: {n} cases, seed {seed}")
    findings: list[Finding] = []
    responses: Counter[str] = Counter()
    reproducers: list[Path] = []
    unwritable = ""
    ran = 0
    stopped = ""
    campaign_start = time.monotonic()
    for case in campaign(seed, n, called, with_datasets):
        pacer.wait()
        if case.sop_instance_uid:  # noted before it goes: an interruption loses nothing
            written.append(Written(case.study_uid, case.sop_instance_uid, None))
        response = send_case(channel, case, options.timeout)
        ran += 1
        responses[response.split(" (")[0]] += 1
        if case.sop_instance_uid and response.startswith("not accepted"):
            written.pop()  # the association was refused: nothing of it was sent
        first, last = alive_after(channel, called, options.timeout, pacer)
        outcome = failure(first, last)
        if not outcome:
            continue
        crashed = outcome == Failure.CRASH
        fid = "FUZZ-CRASH" if crashed else "FUZZ-HANG"
        detail = (f"after the case: {first.detail}"
                  + (f"; {'answering again' if last.alive else 'still down'} after "
                     f"{2 * options.timeout:g} s ({last.detail})"))
        path: Path | None = None
        if len(reproducers) < MAX_REPRODUCERS and not unwritable:
            try:
                path = reproducer.write(options.reproducers, channel, called, seed, case,
                                        outcome, detail, subject)
                reproducers.append(path)
            except OSError as exc:  # the finding still names seed and case: reproducible
                unwritable = (f"{options.reproducers}: {exc.strerror or exc}; the seed, "
                              "case number and called AE title in the findings regenerate "
                              "them (fuzz.campaign)")
        findings.append(finding(
            fid, Severity.CRITICAL if crashed else Severity.HIGH,
            f"Case {case.number} of seed {seed} ({case.kind}: {case.description}); the node "
            f"answered the case with: {response}; {detail}."
            + (f" Reproducer: {path} (replay: pacsguard assess-replay {path} "
               f"{subject} --authorized-by \"NAME, reference\")." if path else ""), subject))
        if not last.alive:
            stopped = f"stopped after case {case.number}: the node did not come back"
            break
    elapsed = time.monotonic() - campaign_start
    rate = ran / elapsed if elapsed > 0 else 0.0
    facts = [Fact("seed", str(seed)), Fact("cases", f"{ran} of {n}"),
             Fact("rate", f"{rate:.1f} cases/s (limit {1 / pacer.interval:g} requests/s; "
                  "each case and each liveness check is one)"),
             Fact("data-set cases", "included (--allow-write)" if with_datasets else
                  "not sent (needs --allow-write and an association for unknown callers)"),
             Fact("answers to the cases", ", ".join(f"{k} {v}" for k, v in
                                                    responses.most_common()))]
    if stopped:
        facts.append(Fact("campaign", stopped))
    if reproducers:
        facts.append(Fact("reproducers", ", ".join(str(p) for p in reproducers)))
    if unwritable:
        facts.append(Fact("reproducers not written", unwritable))
    return Section(FAMILY, TITLE, tuple(findings), tuple(facts),
                   seconds=time.monotonic() - started)


# -- replay ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Replay:
    response: str
    first: Liveness
    last: Liveness

    @property
    def outcome(self) -> Failure | None:
        """A crash, a hang or None (see :func:`failure`)."""
        return failure(self.first, self.last)

    @property
    def reproduced(self) -> bool:
        return bool(self.outcome)


def replay(path: Path, channel: Channel, called_aet: str | None = None,
           timeout: float = 3.0, pacer: Pacer | None = None) -> Replay:
    """Send a reproducer's bytes to ``channel`` and check the node is still alive. The
    reproducer and ``called_aet`` are checked before anything is sent."""
    r = reproducer.load(path)
    called = ae_title(called_aet, "--called-aet") if called_aet else r.called_aet
    before = echo(channel, called, random_aet("PGL"), timeout, pacer)
    if not before.alive:
        raise AssessError(f"{channel.describe()} failed the liveness check before the replay "
                          f"({before.state}: {before.detail}); nothing was sent")
    if pacer is not None:
        pacer.wait()
    response = send_case(channel, r.case, timeout)
    first, last = alive_after(channel, called, timeout, pacer)
    return Replay(response, first, last)


def replay_findings(result: Replay, path: Path, subject: str) -> list[Finding]:
    if not result.reproduced:
        return []
    crashed = result.outcome == Failure.CRASH
    after = "answering again" if result.last.alive else "still down"
    return [finding("FUZZ-CRASH" if crashed else "FUZZ-HANG",
                    Severity.CRITICAL if crashed else Severity.HIGH,
                    f"Replaying {path}: the node answered {result.response}; then "
                    f"{result.first.detail} ({after} after the retries).", subject)]

