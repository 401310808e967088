"""What an advisory says, whatever form it came in (CSAF 2.0 or a simple alert)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: CSAF 2.0 product_status keys (§3.2.3.9) grouped by what they mean for a machine
AFFECTED = frozenset({"known_affected", "first_affected", "last_affected"})
FIXED = frozenset({"fixed", "first_fixed"})
NOT_AFFECTED = frozenset({"known_not_affected"})
UNCLEAR = frozenset({"under_investigation", "recommended"})
STATUSES = AFFECTED | FIXED | NOT_AFFECTED | UNCLEAR


@dataclass(frozen=True)
class Remediation:
    category: str  # CSAF: vendor_fix, mitigation, workaround, none_available, no_fix_planned
    details: str
    url: str | None = None


@dataclass(frozen=True)
class Product:
    """One product line of an advisory in one status (affected, fixed, ...)."""

    product_id: str
    status: str  # a key of STATUSES
    vendor: str  # as written (trimmed)
    product: str
    version_text: str | None  # as written; None when the advisory names no version
    cves: tuple[str, ...] = ()
    cvss: float | None = None  # highest CVSS v3 base score, computed from the vectors
    remediations: tuple[Remediation, ...] = ()


@dataclass(frozen=True)
class Advisory:
    tracking_id: str
    revision: str
    title: str
    publisher: str
    initial_release_date: str
    current_release_date: str
    kind: str  # csaf | alert
    products: tuple[Product, ...]
    link: str = ""
    severity: str = ""  # a simple alert's stated severity (critical/high/medium/low), if any
    warnings: tuple[str, ...] = field(default=())

    @property
    def cves(self) -> tuple[str, ...]:
        return tuple(sorted({c for p in self.products for c in p.cves}))

    @property
    def max_cvss(self) -> float | None:
        scores = [p.cvss for p in self.products if p.cvss is not None]
        return max(scores) if scores else None
