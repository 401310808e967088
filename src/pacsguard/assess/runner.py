"""One authorised assessment of one named DICOM node, check family by check family.

Order: association policy (finds the channel and a called AE title), services, web (optional),
identity and advisories, data exposure, write exposure (``--allow-write``), query robustness,
transport, the fuzz campaign (``--fuzz N``), and the cleanup of whatever was written. Every
request goes through one :class:`~pacsguard.assess.net.Pacer`, so the whole run stays under
``--rate`` requests per second.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
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
from pacsguard.assess.model import Assessment, Fact, Options, Section
from pacsguard.assess.net import Pacer
from pacsguard.errors import AssessError
from pacsguard.integrity.ledger import utc_now
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
        Fact("default called titles tried at most", str(options.guesses)),
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


def assess(options: Options, progress: Progress | None = None) -> Assessment:
    """Run every check against ``options.target``; raise :class:`AssessError` when the node
    cannot be reached at all (no verdict)."""
    say = progress or (lambda _: None)
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
    say("data exposure")
    s, _ = exposure.check(access, offered, options, pacer)
    sections.append(s)
    say("write exposure")
    s, written = write.check(access, offered, options, pacer)
    sections.append(s)
    fuzzed: list[write.Written] = []
    try:
        say("query robustness")
        sections.append(query.check(access, offered, options, pacer))
        say("transport")
        sections.append(transport.check(access, options, pacer))
        s, fuzzed = fuzz.check(access, options, pacer, say)
        sections.append(s)
    finally:  # whatever happened, what was written is cleaned up where the node allows
        if options.allow_write:
            say("cleanup")
            sections.append(write.cleanup([*written, *fuzzed], site, options))
    return Assessment(options.target.text, options.target.address, options.target.port,
                      options.authorisation, started_at, utc_now(), time.monotonic() - t0,
                      _tool_version(), settings(options), tuple(sections))
