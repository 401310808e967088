"""What an advisory says, whatever form it came in (CSAF 2.0 or a simple alert), and the coded
values it says it with."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ProductStatus(StrEnum):
    """CSAF 2.0 ``product_status`` keys (§3.2.3.9): what a vulnerability says of a product.
    Stored as ``advisory_products.status``."""

    FIRST_AFFECTED = "first_affected"
    FIRST_FIXED = "first_fixed"
    FIXED = "fixed"
    KNOWN_AFFECTED = "known_affected"
    KNOWN_NOT_AFFECTED = "known_not_affected"
    LAST_AFFECTED = "last_affected"
    RECOMMENDED = "recommended"
    UNDER_INVESTIGATION = "under_investigation"


#: The product statuses grouped by what they mean for a machine
AFFECTED = frozenset({ProductStatus.KNOWN_AFFECTED, ProductStatus.FIRST_AFFECTED,
                      ProductStatus.LAST_AFFECTED})
FIXED = frozenset({ProductStatus.FIXED, ProductStatus.FIRST_FIXED})
NOT_AFFECTED = frozenset({ProductStatus.KNOWN_NOT_AFFECTED})
UNCLEAR = frozenset({ProductStatus.UNDER_INVESTIGATION, ProductStatus.RECOMMENDED})
STATUSES = AFFECTED | FIXED | NOT_AFFECTED | UNCLEAR


class RemediationCategory(StrEnum):
    """CSAF 2.0 remediation ``category`` (§3.2.3.12.1); a simple alert gives ``vendor_fix``
    (with fixed versions) or ``mitigation``."""

    MITIGATION = "mitigation"
    NO_FIX_PLANNED = "no_fix_planned"
    NONE_AVAILABLE = "none_available"
    VENDOR_FIX = "vendor_fix"
    WORKAROUND = "workaround"


class AdvisoryKind(StrEnum):
    """Where an advisory came from; stored as ``advisories.kind``."""

    CSAF = "csaf"  # a CSAF 2.0 document (file or provider feed)
    ALERT = "alert"  # a simple alert (YAML or CSV: NHS cyber alerts, vendor letters)


class Severity(StrEnum):
    """A simple alert's stated severity, when it gives a word rather than a CVSS score."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class Remediation:
    category: str  # a RemediationCategory value (as the document or the database gives it)
    details: str
    url: str | None = None


@dataclass(frozen=True)
class Product:
    """One product line of an advisory in one status (affected, fixed, ...)."""

    product_id: str
    status: ProductStatus
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
    kind: AdvisoryKind
    products: tuple[Product, ...]
    link: str = ""
    severity: Severity | None = None  # a simple alert's stated severity word, if any
    warnings: tuple[str, ...] = field(default=())

    @property
    def cves(self) -> tuple[str, ...]:
        return tuple(sorted({c for p in self.products for c in p.cves}))

    @property
    def max_cvss(self) -> float | None:
        scores = [p.cvss for p in self.products if p.cvss is not None]
        return max(scores) if scores else None
