"""Alerts that come without CSAF (NHS cyber alerts, vendor letters): a small YAML or CSV form.

YAML: a list of alerts (or a mapping with an ``alerts`` list). CSV: one alert per row, with a
header row. The keys (columns) are an allow-list; anything else is an error, so a typo never
silently drops a field:

    id, title, vendor, products, affected_versions      (required)
    published, fixed_versions, severity, cves, link, remediation   (optional)

``products`` and ``cves`` are lists (YAML) or ``;``-separated (CSV). ``affected_versions`` and
``fixed_versions`` use the same version-range text as advisories ("<12.2.8.410", "2.3.6 and
below", "*"), kept unchanged and parsed by the same rules. ``severity`` is critical, high,
medium or low, or a CVSS v3 base score. A file with any bad alert is rejected whole.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from typing import Any

from pacsguard.advisories.model import (
    Advisory,
    AdvisoryKind,
    Product,
    ProductStatus,
    Remediation,
    RemediationCategory,
    Severity,
)
from pacsguard.errors import AdvisoryError

REQUIRED = ("id", "title", "vendor", "products", "affected_versions")
OPTIONAL = ("published", "fixed_versions", "severity", "cves", "link", "remediation")
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _list(value: Any, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        items = [v.strip() for v in value.split(";")]
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        items = [str(v).strip() for v in value]
    else:
        raise AdvisoryError(f"{where}: '{key}' must be a list of text")
    return [v for v in items if v]


def _text(value: Any, where: str, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, date):  # YAML reads 2024-05-01 as a date
        return value.isoformat()
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise AdvisoryError(f"{where}: '{key}' must be text")
    return str(value).strip()


def alert_to_advisory(raw: dict[str, Any], where: str) -> tuple[Advisory, bytes]:
    """One alert, checked; returns it with canonical bytes (what is stored and hashed)."""
    unknown = sorted(set(raw) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise AdvisoryError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: "
                            f"{', '.join(REQUIRED + OPTIONAL)}")
    values = {k: _text(raw.get(k), where, k) for k in REQUIRED + OPTIONAL
              if k not in ("products", "cves")}
    products = _list(raw.get("products", ""), where, "products")
    cves = _list(raw.get("cves", ""), where, "cves")
    missing = [k for k in REQUIRED if not (products if k == "products" else values.get(k))]
    if missing:
        raise AdvisoryError(f"{where}: missing required field(s) {', '.join(missing)}")
    bad = [c for c in cves if not _CVE.match(c)]
    if bad:
        raise AdvisoryError(f"{where}: {bad[0]!r} is not a CVE id (CVE-YYYY-NNNN)")
    published = values["published"]
    if published and not _DATE.match(published):
        raise AdvisoryError(f"{where}: published {published!r} is not a date (YYYY-MM-DD)")
    stated = values["severity"].casefold()
    severity = next((s for s in Severity if s == stated), None)
    cvss: float | None = None
    if stated and severity is None:
        try:
            cvss = float(stated)
        except ValueError:
            cvss = -1.0
        if not 0.0 <= cvss <= 10.0:
            raise AdvisoryError(f"{where}: severity {values['severity']!r} is not one of "
                                f"{', '.join(Severity)} or a CVSS score 0-10")
    category = (RemediationCategory.VENDOR_FIX if values["fixed_versions"]
                else RemediationCategory.MITIGATION)
    rems = ((Remediation(category, values["remediation"], values["link"] or None),)
            if values["remediation"] else ())
    out = []
    for n, name in enumerate(products, 1):
        out.append(Product(f"alert-{n}", ProductStatus.KNOWN_AFFECTED, values["vendor"], name,
                           values["affected_versions"], tuple(cves), cvss, rems))
        if values["fixed_versions"]:
            out.append(Product(f"alert-{n}-fixed", ProductStatus.FIXED, values["vendor"], name,
                               values["fixed_versions"], tuple(cves), cvss, rems))
    canonical = {k: (products if k == "products" else cves if k == "cves" else values[k])
                 for k in REQUIRED + OPTIONAL}
    data = json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()
    date = published[:10] if published else ""
    return Advisory(
        tracking_id=values["id"], revision="1", title=values["title"], publisher="local alert",
        initial_release_date=date, current_release_date=date, kind=AdvisoryKind.ALERT,
        products=tuple(out), link=values["link"], severity=severity,
    ), data


def parse_alert_file(data: bytes, source: str) -> list[tuple[Advisory, bytes]]:
    """Every alert of a YAML or CSV file (by extension), or an error naming the bad one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AdvisoryError(f"{source}: not UTF-8 text") from None
    rows: list[Any]
    if source.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None:
            raise AdvisoryError(f"{source}: empty CSV file; the first row names the columns")
        rows = [{k: v for k, v in r.items() if v not in (None, "")} for r in reader]
        if any(None in r for r in rows):
            raise AdvisoryError(f"{source}: a row has more cells than the header has columns")
        label = "row"
    else:
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AdvisoryError(f"{source}: not valid YAML ({exc})") from None
        if isinstance(loaded, dict) and set(loaded) == {"alerts"}:
            loaded = loaded["alerts"]
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise AdvisoryError(f"{source}: expected a list of alerts (mappings), or "
                                "'alerts:' holding one")
        rows = loaded
        label = "alert"
    if not rows:
        raise AdvisoryError(f"{source}: no alerts in the file")
    out = [alert_to_advisory(r, f"{source}: {label} {n}") for n, r in enumerate(rows, 1)]
    ids = [a.tracking_id for a, _ in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise AdvisoryError(f"{source}: alert id {dup[0]!r} appears more than once")
    return out
