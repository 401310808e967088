"""One authorised assessment of one named DICOM node, check family by check family.

Order: association policy (finds the channel and a called AE title), services, web (optional),
identity and advisories, write exposure (``--allow-write``: first, so that the C-MOVE probe
of data exposure can use pacsguard's own test study, never a patient's), data exposure, query
robustness, transport, the fuzz campaign (``--fuzz N``), and the cleanup of whatever was
written. Every request goes through one :class:`~pacsguard.assess.net.Pacer`, so the whole run
stays under ``--rate`` requests per second.

From the write checks on, everything runs inside one ``try``: whatever ends the run (the
last check, an error, Ctrl-C), every test instance sent so far is cleaned up where the node
allows and what was left is reported. Ctrl-C raises
:class:`~pacsguard.assess.model.Interrupted`, which carries that cleanup.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from pacsguard.assess import (
    exposure,
    fuzz,
    identity,
    policy,
    query,
    services,
    transport,
    web,
    write,
)
from pacsguard.assess.model import (
    Assessment,
    Fact,
    Interrupted,
    Options,
    Section,
    ae_title,
    guess_limit,
)
from pacsguard.assess.net import Pacer
from pacsguard.assess.write import Written
from pacsguard.dates import utc_now
from pacsguard.errors import AssessError
from pacsguard.workspace import Workspace, resolve_data_dir

Progress = Callable[[str], None]


def _tool_version() -> str:
    try:
        return version("pacsguard")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "source"


def _reachable(options: Options, pacer: Pacer) -> None:
    t = options.target
    pacer.wait()
    try:
        with socket.create_connection((t.address, t.port), timeout=options.timeout):
            pass
    except OSError as exc:
        raise AssessError(f"{t.text}: cannot connect ({exc.strerror or exc}); nothing was "
                          "assessed. Check the address, the port and that the node is up."
                          ) from None


def settings(options: Options) -> tuple[Fact, ...]:
    return (
        Fact("called AE title given", options.called_aet or "none"),
        Fact("timeout", f"{options.timeout:g} s per step"),
        Fact("rate limit", f"{options.rate:g} requests/s"),
        Fact("default called titles tried at most",
             str(guess_limit(options, len(policy.DEFAULT_CALLED_AETS)))
             + (" (--called-aet given; --guesses N to try them too)"
                if options.called_aet and options.guesses is None else "")),
        Fact("TLS port", str(options.tls_port) if options.tls_port else "the DICOM port"),
        Fact("client certificate", str(options.tls.certificate) if options.tls.certificate
             else "none"),
        Fact("web URL", options.http or "none"),
        Fact("writes allowed", "yes (labelled test instances)" if options.allow_write
             else "no"),
        Fact("fuzz cases", str(options.fuzz_cases)),
        Fact("fuzz seed", str(options.seed) if options.seed is not None
             else "random (see the fuzz section)"),
    )


def _test_study(written: Sequence[Written]) -> str | None:
    """The test study the node stored, if any: the only study a C-MOVE may ask for."""
    return next((w.study_uid for w in written if w.accepted), None)


def _cleanup(written: Sequence[Written], site: web.Web, options: Options,
             say: Progress) -> Section | None:
    """Clean up what was written (None: writes were not allowed) and say what is left."""
    if not options.allow_write:
        return None
    say("cleanup")
    s = write.cleanup(written, site, options)
    say("cleanup: " + (s.skipped or "; ".join(f"{f.name} {f.value}" for f in s.facts)))
    for f in s.findings:
        say(f"{f.id}: {f.evidence}")
    return s


def assess(options: Options, progress: Progress | None = None) -> Assessment:
    """Run every check against ``options.target``; raise :class:`AssessError` when the node
    cannot be reached at all (no verdict), :class:`Interrupted` on Ctrl-C."""
    say = progress or (lambda _: None)
    if options.called_aet is not None:  # refused before anything is sent
        options = dataclasses.replace(
            options, called_aet=ae_title(options.called_aet, "--called-aet"))
    pacer = Pacer(options.rate)
    started_at = utc_now()
    t0 = time.monotonic()
    if options.http:
        web.same_host(options.http, options)  # refused before anything is sent
    if options.data_dir_explicit:
        Workspace(resolve_data_dir(options.data_dir)).settings()  # a wrong --data-dir too
    _reachable(options, pacer)
    sections: list[Section] = []
    say("association policy")
    s, access = policy.check(options, pacer)
    sections.append(s)
    say("services")
    s, offered = services.check(access, options, pacer)
    sections.append(s)
    say("web")
    s, site = web.check(options, pacer)
    sections.append(s)
    say("identity")
    s, _ = identity.check(access, site, options)
    sections.append(s)
    written: list[Written] = []  # every test instance, noted before it is sent
    try:
        say("write exposure")
        sections.append(write.check(access, offered, options, pacer, written))
        say("data exposure")
        exposed, _ = exposure.check(access, offered, options, pacer, _test_study(written))
        sections.append(exposed)
        say("query robustness")
        sections.append(query.check(access, offered, options, pacer))
        say("transport")
        sections.append(transport.check(access, options, pacer,
                                        exposed=bool(exposed.findings)))
        sections.append(fuzz.check(access, options, pacer, written, say))
    except KeyboardInterrupt:
        raise Interrupted(_cleanup(written, site, options, say)) from None
    except BaseException:
        _cleanup(written, site, options, say)
        raise
    cleaned = _cleanup(written, site, options, say)
    if cleaned is not None:
        sections.append(cleaned)
    return Assessment(options.target.text, options.target.address, options.target.port,
                      options.authorisation, started_at, utc_now(), time.monotonic() - t0,
                      _tool_version(), settings(options), tuple(sections))
