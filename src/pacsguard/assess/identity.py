"""Identity: which implementation and version is the node, and do advisories hit it?

* The Implementation Class UID and Version Name of the A-ASSOCIATE-AC (PS3.7 Annex D.3.3.2),
  mapped with :func:`pacsguard.inventory.active.identify` (DCMTK, pynetdicom, dcm4che,
  fo-dicom, GDCM). Products built on a toolkit answer as the toolkit: Orthanc as DCMTK.
* Orthanc's own version, when ``--http`` reached its REST API (``/system``).
* Both are matched (:func:`pacsguard.advisories.match.match`) against the advisories imported
  into the data directory, when there is one: an affected version is ``ADVISORY-MATCH``
  (severity from the advisory's CVSS base score), one that needs a person's judgement is
  ``ADVISORY-REVIEW``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from pacsguard.advisories.match import MatchStatus, match
from pacsguard.advisories.store import StoredProduct, current_products
from pacsguard.assess.catalog import finding
from pacsguard.assess.model import Fact, Options, Section
from pacsguard.assess.policy import Access
from pacsguard.assess.web import Web
from pacsguard.errors import PacsguardError
from pacsguard.findings import Finding, Severity
from pacsguard.inventory.active import identify
from pacsguard.inventory.machines import Machine
from pacsguard.products.vendors import canonical_vendor
from pacsguard.workspace import Workspace, resolve_data_dir

FAMILY = "identity"
TITLE = "Identity and advisories"


@dataclass(frozen=True)
class Identity:
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    vendor: str = ""
    implementation: str = ""
    version: str = ""
    product: str = ""  # the product behind the toolkit, when the web side said
    product_version: str = ""

    def describe(self) -> str:
        parts = []
        if self.implementation:
            parts.append(f"{self.implementation} {self.version or '(version unknown)'}")
        elif self.implementation_class_uid:
            parts.append(f"unknown implementation ({self.implementation_class_uid}, "
                         f"{self.implementation_version_name or 'no version name'})")
        if self.product:
            parts.append(f"{self.product} {self.product_version}")
        return "; ".join(parts) or "not identified"


def cvss_severity(score: float | None) -> Severity:
    """CVSS v3 qualitative rating (FIRST CVSS v3.1 §5); no score: medium."""
    if score is None:
        return Severity.MEDIUM
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW if score > 0 else Severity.INFO


def _machines(ident: Identity, subject: str) -> list[Machine]:
    out = []
    if ident.implementation:
        out.append(Machine(1, canonical_vendor(ident.vendor), ident.vendor,
                           ident.implementation, "", subject, "", (),
                           (ident.version,) if ident.version else (), "", "", 0, "active"))
    if ident.product:
        out.append(Machine(2, canonical_vendor(ident.product), ident.product, ident.product,
                           "", subject, "", (),
                           (ident.product_version,) if ident.product_version else (),
                           "", "", 0, "active"))
    return out


def _open_products(data_dir: Path | None, explicit: bool) -> tuple[list[StoredProduct] | None, str]:
    ws = Workspace(resolve_data_dir(data_dir))
    if not ws.config_path.exists() and not explicit:
        return None, f"no data directory at {ws.data_dir}; advisories not matched"
    try:
        ledger, _, _ = ws.open_ledger(read_only=True)
    except PacsguardError:
        if explicit:
            raise
        return None, f"data directory {ws.data_dir} could not be opened; advisories not matched"
    try:
        return list(current_products(ledger.engine)), str(ws.data_dir)
    finally:
        ledger.engine.dispose()


def check(access: Access, web: Web, options: Options) -> tuple[Section, Identity]:
    started = time.monotonic()
    subject = options.target.text
    ac = access.accepted
    uid = ac.implementation_class_uid if ac is not None else ""
    name = ac.implementation_version_name if ac is not None else ""
    vendor, impl, version = identify(uid, name)
    ident = Identity(uid, name, vendor, impl, version,
                     "Orthanc" if web.orthanc_version else "", web.orthanc_version)
    facts = [Fact("Implementation Class UID", uid or "not seen (no association accepted)"),
             Fact("Implementation Version Name", name or "not seen"),
             Fact("identified as", ident.describe())]
    findings: list[Finding] = []
    if uid or ident.product:
        findings.append(finding(
            "ID-IMPLEMENTATION", Severity.INFO,
            f"A-ASSOCIATE-AC: Implementation Class UID {uid or '-'}, Version Name "
            f"{name or '-'}; identified as {ident.describe()}"
            + (" (Orthanc's REST /system named the product)" if ident.product else "")
            + ".", subject))
    machines = _machines(ident, subject)
    if machines:
        products, where = _open_products(options.data_dir, options.data_dir_explicit)
        if products is None:
            facts.append(Fact("advisories", where))
        else:
            facts.append(Fact("advisories", f"{len({p.tracking_id for p in products})} "
                              f"imported advisories in {where}"))
            for m in match(products, machines):
                what = next(x for x in machines if x.id == m.machine_id)
                label = f"{what.model} {'/'.join(what.software_versions) or '?'}"
                cves = f" ({', '.join(m.cves)})" if m.cves else ""
                fixes = f" Fixed in: {'; '.join(m.fixes)}." if m.fixes else ""
                if m.status is MatchStatus.AFFECTED:
                    findings.append(finding(
                        "ADVISORY-MATCH", cvss_severity(m.cvss),
                        f"{m.tracking_id} {m.title}{cves}, CVSS "
                        f"{m.cvss if m.cvss is not None else 'not given'}: {label} is "
                        f"affected. {' '.join(m.reasons)}.{fixes}", subject))
                elif m.status is MatchStatus.NEEDS_REVIEW:
                    findings.append(finding(
                        "ADVISORY-REVIEW", Severity.INFO,
                        f"{m.tracking_id} {m.title}{cves} may apply to {label}: "
                        f"{' '.join(m.reasons)}", subject))
    return (Section(FAMILY, TITLE, tuple(findings), tuple(facts),
                    seconds=time.monotonic() - started), ident)
