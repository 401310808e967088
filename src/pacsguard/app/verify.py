"""Verify: what is on disk, or what a PACS holds, against what the ledger proves
(docs/verify.md; :mod:`pacsguard.integrity.verify`, :mod:`pacsguard.gateway.pacs`).

Both use cases return the :class:`~pacsguard.integrity.verify.VerifyReport` (is the ledger
trusted, how many instances in each status) and the discrepancies, worst first.
``on_progress(files, bytes)`` is called once when the work starts (0, 0) and then with the
totals so far.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pacsguard.errors import ConfigError
from pacsguard.integrity.status import Discrepancy
from pacsguard.integrity.verify import VerifyReport, verify
from pacsguard.workspace import Workspace, resolve_data_dir

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FolderVerification:
    """What ``verify PATHS`` found."""

    report: VerifyReport
    #: worst first, streamed from a scratch database in a temporary folder (bounded memory
    #: whatever the archive): read it once, to the end, to remove that folder
    discrepancies: Iterator[Discrepancy]

    @property
    def ok(self) -> bool:
        return self.report.ok


@dataclass(frozen=True)
class PacsVerification:
    """What ``verify --pacs NAME`` found."""

    report: VerifyReport
    discrepancies: tuple[Discrepancy, ...]  # worst first
    pacs: str  # the destination's name
    listed: int  # instances the PACS listed (C-FIND), each UID once
    missing: int  # recorded in the ledger's scope, not listed
    retrieved: int  # listed, recorded and chosen for retrieval
    sample: float | None  # the fraction retrieved, when sampled
    seed: int  # repeats the sample

    @property
    def ok(self) -> bool:
        return self.report.ok


def verify_folders(ws: Workspace, paths: Sequence[Path], *, expect_all: bool = False,
                   workers: int | None = None, on_progress: Progress | None = None,
                   ) -> FolderVerification:
    """Compare the files under ``paths`` with the ledger, which is first re-hashed against
    its latest checkpoint and the copy of it kept outside the database. Only instances
    recorded under ``paths`` are expected, or every recorded one with ``expect_all``."""
    ledger, profile, attr_key = ws.open_ledger(read_only=True)
    try:
        witnessed = ws.checkpoint_copy.read_text() if ws.checkpoint_copy.exists() else None
        report, discrepancies = verify(ledger, profile, attr_key, paths,
                                       expect_all=expect_all, workers=workers,
                                       witnessed=witnessed, progress=_totals(on_progress))
    finally:
        ledger.engine.dispose()
    return FolderVerification(report, discrepancies)


def _totals(on_progress: Progress | None, counted: bool = False) -> Progress | None:
    """Tell ``on_progress`` that the work starts (0, 0), and return the ``progress(n, size)``
    the work reports to, which passes on the totals: ``n`` more files and ``size`` more
    bytes, or (``counted``) ``n`` files so far and ``size`` more bytes."""
    if on_progress is None:
        return None
    on_progress(0, 0)
    files = nbytes = 0

    def step(n: int, size: int) -> None:
        nonlocal files, nbytes
        files = n if counted else files + n
        nbytes += size
        on_progress(files, nbytes)

    return step


def _day(label: str, day: str | None) -> None:
    if day is not None and not re.fullmatch(r"\d{8}", day):
        raise ConfigError(f"{label} {day!r}: use YYYYMMDD")


def _fraction(sample: str | None) -> float | None:
    """A percentage ("5%", "12.5%") as a fraction; None when not sampling."""
    if sample is None:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)%", sample.strip())
    if m is None or not 0 < float(m.group(1)) <= 100:
        raise ConfigError(f"--sample {sample!r}: give a percentage, e.g. 5%")
    return float(m.group(1)) / 100


def verify_pacs(name: str, config: Path, data_dir: Path | None = None, *,
                study: str | None = None, since: str | None = None, until: str | None = None,
                sample: str | None = None, seed: int | None = None,
                on_progress: Progress | None = None) -> PacsVerification:
    """Verify what the PACS ``name`` (a destination of the gateway configuration ``config``)
    holds: list it (C-FIND), retrieve (C-GET) and compare with the ledger, which is first
    re-hashed against its latest checkpoint. ``data_dir`` defaults to the configuration's;
    ``since``/``until`` are dates (YYYYMMDD); ``sample`` a percentage to retrieve ("5%"; the
    lists are still compared whole), repeated with ``seed``."""
    from pacsguard.gateway.config import load_config
    from pacsguard.gateway.pacs import Scope
    from pacsguard.gateway.pacs import verify_pacs as retrieve_and_compare

    cfg = load_config(config)
    dest = cfg.destination_named(name)
    if dest is None:
        raise ConfigError(f"--pacs {name!r}: {config} has no [[destination]] with that name "
                          f"(it has: {', '.join(d.name for d in cfg.destination) or 'none'})")
    _day("--since", since)
    _day("--until", until)
    fraction = _fraction(sample)
    ws = Workspace(resolve_data_dir(data_dir if data_dir is not None else cfg.gateway.data_dir))
    ledger, profile, attr_key = ws.open_ledger(read_only=True)
    try:
        integrity = ledger.check_integrity()
        found = retrieve_and_compare(ledger, profile, attr_key, dest, cfg.gateway.ae_title,
                                     Scope(study, since, until, fraction, seed),
                                     _totals(on_progress, counted=True))
    finally:
        ledger.engine.dispose()
    report = VerifyReport(integrity)
    for f in found.findings:
        report.counts[f.status] = report.counts.get(f.status, 0) + 1
    report.files = found.listed + found.missing
    return PacsVerification(report, tuple(found.findings), name, found.listed, found.missing,
                            found.retrieved, fraction, found.seed)
