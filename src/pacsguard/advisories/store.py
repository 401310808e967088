"""Importing advisories into the database, and reading back the current ones.

Each document (or each alert of an alert file) is imported in one transaction: all its
products or nothing. The exact bytes are kept, with their SHA-256: importing the same bytes
again changes nothing. Another revision of a known tracking id is stored beside the older
ones, and the newest (by current release date, then import order) becomes the current one;
matching reads only current revisions, and decisions, which name the tracking id, carry over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.advisories.csaf import parse_bytes
from pacsguard.advisories.model import (
    Advisory,
    Product,
    Remediation,
)
from pacsguard.advisories.simple import parse_alert_file
from pacsguard.dates import utc_now
from pacsguard.errors import AdvisoryError, StoreError
from pacsguard.products.vendors import canonical_vendor
from pacsguard.products.versions import RangeStatus, parse_range
from pacsguard.store.engine import advisory_lock, inserted_id
from pacsguard.store.schema import advisories, advisory_products

_PG_LOCK_KEY = 0x61647631  # "adv1": serialises advisory imports on PostgreSQL
ALERT_SUFFIXES = (".yaml", ".yml", ".csv")
#: The largest advisory file read. The biggest real CSAF documents are a few MB (Red Hat's run
#: to ~10 MB); anything far larger is the wrong file, and reading it whole would cost memory.
MAX_FILE_BYTES = 64 * 1024 * 1024


class Imported(StrEnum):
    NEW = "new"  # a tracking id not seen before
    REVISION = "revision"  # another revision of a known tracking id
    UNCHANGED = "unchanged"  # these exact bytes were imported before
    REJECTED = "rejected"


@dataclass(frozen=True)
class ImportResult:
    source: str
    outcome: Imported
    tracking_id: str = ""
    revision: str = ""
    products: int = 0
    detail: str = ""  # the reason when rejected; warnings otherwise


def iter_advisory_files(paths: Iterable[Path]) -> Iterator[Path]:
    """The .json, .yaml, .yml and .csv files under ``paths`` (folders of any depth), sorted;
    a named file is taken whatever its suffix."""
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file()
                              and f.suffix.lower() in (".json", *ALERT_SUFFIXES))
        else:
            yield p


def import_paths(engine: Engine, paths: Iterable[Path]) -> Iterator[ImportResult]:
    """Import every advisory file under ``paths``; one result per document or alert."""
    for f in iter_advisory_files(paths):
        source = str(f)
        try:
            size = f.stat().st_size
            if size > MAX_FILE_BYTES:
                yield ImportResult(source, Imported.REJECTED, detail=(
                    f"{source}: {size / 2**20:.0f} MiB is too large for an advisory (limit "
                    f"{MAX_FILE_BYTES // 2**20} MiB); is this the right file?"))
                continue
            data = f.read_bytes()
        except OSError as exc:
            yield ImportResult(source, Imported.REJECTED,
                               detail=f"{source}: cannot read ({exc.strerror})")
            continue
        try:
            if f.suffix.lower() in ALERT_SUFFIXES:
                docs = parse_alert_file(data, source)
            else:
                docs = [(parse_bytes(data, source), data)]
        except AdvisoryError as exc:
            yield ImportResult(source, Imported.REJECTED, detail=str(exc))
            continue
        for adv, raw in docs:
            yield import_advisory(engine, adv, raw, source)


def _instant(stamp: str) -> str:
    """A release date as comparable UTC text (CSAF dates carry various offsets and precisions;
    an unparseable one compares as written)."""
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()


def import_advisory(engine: Engine, adv: Advisory, data: bytes, source: str) -> ImportResult:
    digest = hashlib.sha256(data).hexdigest()
    try:
        with engine.begin() as conn:
            advisory_lock(conn, _PG_LOCK_KEY)
            if conn.execute(select(advisories.c.id).where(advisories.c.sha256 == digest)
                            ).first() is not None:
                return ImportResult(source, Imported.UNCHANGED, adv.tracking_id, adv.revision)
            known = conn.execute(
                select(advisories.c.id, advisories.c.current_release_date)
                .where(advisories.c.tracking_id == adv.tracking_id)
            ).all()
            mine = _instant(adv.current_release_date)
            newest = all(_instant(str(d)) <= mine for _, d in known)
            if newest and known:
                conn.execute(update(advisories).where(advisories.c.tracking_id
                                                      == adv.tracking_id).values(is_current=False))
            aid = inserted_id(conn.execute(advisories.insert().values(
                tracking_id=adv.tracking_id, revision=adv.revision,
                initial_release_date=adv.initial_release_date,
                current_release_date=adv.current_release_date, title=adv.title,
                publisher=adv.publisher, kind=adv.kind, source=source, sha256=digest,
                document=data, warnings=json.dumps(list(adv.warnings)), imported_at=utc_now(),
                is_current=newest,
            )))
            rows = [_product_row(aid, p) for p in adv.products]
            if rows:
                conn.execute(advisory_products.insert(), rows)
    except SQLAlchemyError as exc:
        raise StoreError(f"could not import {source}: {getattr(exc, 'orig', exc)}") from None
    return ImportResult(source, Imported.REVISION if known else Imported.NEW, adv.tracking_id,
                        adv.revision, len(adv.products), "; ".join(adv.warnings))


def _product_row(advisory_id: int, p: Product) -> dict[str, object]:
    if p.version_text is None:
        status, vers, reason = RangeStatus.NONE, None, ""
    else:
        parsed = parse_range(p.version_text)
        status, vers, reason = parsed.status, parsed.vers, parsed.reason
    return {
        "advisory_id": advisory_id, "product_id": p.product_id, "status": p.status,
        "vendor_raw": p.vendor, "vendor": canonical_vendor(p.vendor) if p.vendor else "",
        "product": p.product, "version_text": p.version_text, "range_status": status,
        "vers": vers, "range_reason": reason, "cves": "\n".join(p.cves), "cvss": p.cvss,
        "remediations": json.dumps([{"category": r.category, "details": r.details,
                                     "url": r.url} for r in p.remediations]),
    }


@dataclass(frozen=True)
class StoredProduct:
    """A product row of a current advisory, as matching reads it. Coded values are read as
    stored, as plain strings: a status this version does not know (a database shared with a
    newer pacsguard) still reads, and matching says it needs review."""

    advisory_id: int
    tracking_id: str
    revision: str
    title: str
    published: str  # initial release date
    product_id: str
    status: str  # a ProductStatus value, as stored
    vendor_raw: str
    vendor: str
    product: str
    version_text: str | None
    range_status: str  # a RangeStatus value, as stored
    vers: str | None
    range_reason: str
    cves: tuple[str, ...]
    cvss: float | None
    remediations: tuple[Remediation, ...]


def current_products(engine: Engine) -> list[StoredProduct]:
    """Every product of every current advisory revision."""
    a, p = advisories.c, advisory_products.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.id, a.tracking_id, a.revision, a.title, a.initial_release_date,
                   p.product_id, p.status, p.vendor_raw, p.vendor, p.product, p.version_text,
                   p.range_status, p.vers, p.range_reason, p.cves, p.cvss, p.remediations)
            .select_from(advisory_products.join(advisories, a.id == p.advisory_id))
            .where(a.is_current.is_(True))
            .order_by(a.tracking_id, p.product_id, p.status)
        ).all()
    return [StoredProduct(
        int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
        r[13], tuple(c for c in str(r[14]).split("\n") if c),
        float(r[15]) if r[15] is not None else None,
        tuple(Remediation(d["category"], d["details"], d.get("url"))
              for d in json.loads(r[16])),
    ) for r in rows]


@dataclass(frozen=True)
class AdvisorySummary:
    tracking_id: str
    revision: str
    title: str
    publisher: str
    published: str
    updated: str
    kind: str  # an AdvisoryKind value, as stored
    products: int
    revisions: int
    warnings: tuple[str, ...]


def list_advisories(engine: Engine) -> list[AdvisorySummary]:
    a = advisories.c
    with engine.connect() as conn:
        counts: dict[int, int] = dict(conn.execute(text(
            "SELECT advisory_id, COUNT(*) FROM advisory_products GROUP BY advisory_id")).all())
        revs: dict[str, int] = {}
        for (tid,) in conn.execute(select(a.tracking_id)):
            revs[tid] = revs.get(tid, 0) + 1
        rows = conn.execute(select(a.id, a.tracking_id, a.revision, a.title, a.publisher,
                                   a.initial_release_date, a.current_release_date, a.kind,
                                   a.warnings)
                            .where(a.is_current.is_(True))
                            .order_by(a.initial_release_date.desc(), a.tracking_id)).all()
    return [AdvisorySummary(r[1], r[2], r[3], r[4], r[5], r[6], r[7], int(counts.get(r[0], 0)),
                            revs[r[1]], tuple(json.loads(r[8]))) for r in rows]
