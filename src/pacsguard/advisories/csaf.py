"""Reading CSAF 2.0 advisories (OASIS CSAF 2.0, docs/advisories.md).

A document is validated against the CSAF 2.0 JSON schema shipped in ``schema/`` (with the
FIRST CVSS schemas it refers to, so no network is needed) and rejected whole if it fails:
nothing of a bad document is imported. A valid document is flattened into one ``Product`` per
(product, status): vendor, product name and version text from the product tree (branches,
full product names and relationships), the CVEs and remediations of each vulnerability that
names it (directly or through a product group), and the highest CVSS v3 base score, computed
from the vector with the ``cvss`` library. A stated score that disagrees with its vector, or a
vector that does not parse, becomes a warning kept with the advisory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from pacsguard.advisories.model import (
    STATUSES,
    Advisory,
    AdvisoryKind,
    Product,
    ProductStatus,
    Remediation,
)
from pacsguard.errors import AdvisoryError

_CVSS_SCHEMAS = {
    "https://www.first.org/cvss/cvss-v2.0.json": ("cvss-v2.0.json", "draft4"),
    "https://www.first.org/cvss/cvss-v3.0.json": ("cvss-v3.0.json", "draft4"),
    "https://www.first.org/cvss/cvss-v3.1.json": ("cvss-v3.1.json", "draft7"),
}


def _schema_json(name: str) -> Any:
    return json.loads((resources.files("pacsguard.advisories") / "schema" / name)
                      .read_text(encoding="utf-8"))


@cache
def _validator() -> Any:
    """The CSAF 2.0 schema validator, built once (about 0.2 s)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT4, DRAFT7

    spec = {"draft4": DRAFT4, "draft7": DRAFT7}
    registry: Registry[Any] = Registry().with_resources(
        (url, spec[draft].create_resource(_schema_json(name)))
        for url, (name, draft) in _CVSS_SCHEMAS.items()
    )
    return Draft202012Validator(_schema_json("csaf-2.0.json"), registry=registry,
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(doc: Any, limit: int = 5) -> list[str]:
    """Why ``doc`` is not valid CSAF 2.0: '<JSON pointer>: <reason>' lines, most relevant first
    (empty when valid)."""
    from jsonschema.exceptions import best_match

    errors = list(_validator().iter_errors(doc))
    if not errors:
        return []
    out = []
    first = best_match(errors)  # descends into oneOf/anyOf to the most specific cause
    out.append(_describe(first))
    for e in sorted(errors, key=lambda e: list(e.absolute_path))[:limit]:
        d = _describe(e)
        if d not in out:
            out.append(d)
    return out[:limit]


def _describe(error: Any) -> str:
    # a oneOf/anyOf failure (e.g. cvss_v3 fits neither CVSS 3.0 nor 3.1) says only "is not
    # valid under any of the given schemas": name the deepest cause inside it instead
    while error.context:
        error = max(error.context, key=lambda e: len(e.absolute_path))
    pointer = "/" + "/".join(str(p) for p in error.absolute_path)
    message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
    return f"{pointer}: {message}"


def parse_bytes(data: bytes, source: str) -> Advisory:
    """A validated, flattened advisory from a CSAF 2.0 document's bytes; ``source`` names the
    file or URL in messages."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise AdvisoryError(f"{source}: not UTF-8 text, so not a CSAF document") from None
    except json.JSONDecodeError as exc:
        raise AdvisoryError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, "
                            f"column {exc.colno})") from None
    version = doc.get("document", {}).get("csaf_version") if isinstance(doc, dict) else None
    if version != "2.0":
        raise AdvisoryError(f"{source}: document.csaf_version is {version!r}; pacsguard reads "
                            "CSAF 2.0 documents")
    errors = schema_errors(doc)
    if errors:
        raise AdvisoryError(f"{source}: not valid CSAF 2.0, nothing imported: "
                            + "; ".join(errors))
    return flatten(doc)


def _walk_branches(branch: dict[str, Any], ctx: dict[str, str],
                   out: dict[str, tuple[str, str, str | None]]) -> None:
    ctx = {**ctx, branch["category"]: branch["name"]}
    product = branch.get("product")
    if product is not None:
        version = ctx.get("product_version_range", ctx.get("product_version"))
        name = ctx.get("product_name") or ctx.get("product_family") or product["name"]
        out[product["product_id"]] = (ctx.get("vendor", ""), name, version)
    for child in branch.get("branches", []):
        _walk_branches(child, ctx, out)


def _products(tree: dict[str, Any]) -> dict[str, tuple[str, str, str | None]]:
    """product_id -> (vendor, product name, version text)."""
    out: dict[str, tuple[str, str, str | None]] = {}
    for b in tree.get("branches", []):
        _walk_branches(b, {}, out)
    for fp in tree.get("full_product_names", []):
        out.setdefault(fp["product_id"], ("", fp["name"], None))
    for rel in tree.get("relationships", []):
        fp = rel["full_product_name"]
        ref = out.get(rel["product_reference"])
        out.setdefault(fp["product_id"], (ref[0], ref[1], ref[2]) if ref else
                       ("", fp["name"], None))
    return out


def _expand(ids: list[str], groups: dict[str, list[str]], group_ids: list[str]) -> set[str]:
    found = set(ids)
    for g in group_ids:
        found.update(groups.get(g, []))
    return found


def _cvss_score(cvss_v3: dict[str, Any], where: str, warnings: list[str]) -> float | None:
    from cvss import CVSS3
    from cvss.exceptions import CVSSError

    vector = cvss_v3.get("vectorString", "")
    stated = cvss_v3.get("baseScore")
    try:
        computed = float(CVSS3(vector).base_score)
    except CVSSError as exc:
        warnings.append(f"{where}: CVSS vector {vector!r} does not parse ({exc}); the stated "
                        f"base score {stated} is used")
        return float(stated) if isinstance(stated, int | float) else None
    if isinstance(stated, int | float) and abs(float(stated) - computed) > 0.05:
        warnings.append(f"{where}: stated CVSS base score {stated} disagrees with its vector "
                        f"{vector} (computes to {computed}); the computed score is used")
    return computed


def _vulnerabilities(doc: dict[str, Any], groups: dict[str, list[str]], warnings: list[str],
                     ) -> Iterator[tuple[str, ProductStatus, str, float | None,
                                         list[Remediation]]]:
    """(product id, status, CVE, score, remediations) for every product of every vulnerability."""
    for n, v in enumerate(doc.get("vulnerabilities", [])):
        cve = v.get("cve", "")
        where = f"vulnerabilities/{n}" + (f" ({cve})" if cve else "")
        scores: dict[str, float] = {}
        for s in v.get("scores", []):
            if "cvss_v3" not in s:
                continue
            score = _cvss_score(s["cvss_v3"], where, warnings)
            if score is None:
                continue
            for pid in s.get("products", []):
                scores[pid] = max(scores.get(pid, 0.0), score)
        rems = [(r, _expand(r.get("product_ids", []), groups, r.get("group_ids", [])))
                for r in v.get("remediations", [])]
        for status, pids in v.get("product_status", {}).items():
            if status not in STATUSES:
                continue
            for pid in pids:
                yield (pid, ProductStatus(status), cve, scores.get(pid),
                       [Remediation(r.get("category", ""), r.get("details", ""), r.get("url"))
                        for r, ids in rems if pid in ids])


def flatten(doc: dict[str, Any]) -> Advisory:
    """One Product per (product id, status), merging what every vulnerability says of it."""
    d = doc["document"]
    tracking = d["tracking"]
    tree = doc.get("product_tree", {})
    names = _products(tree)
    groups = {g["group_id"]: g["product_ids"] for g in tree.get("product_groups", [])}
    warnings: list[str] = []
    merged: dict[tuple[str, ProductStatus], dict[str, Any]] = {}
    for pid, status, cve, score, rems in _vulnerabilities(doc, groups, warnings):
        m = merged.setdefault((pid, status), {"cves": [], "cvss": None, "rems": []})
        if cve and cve not in m["cves"]:
            m["cves"].append(cve)
        if score is not None:
            m["cvss"] = score if m["cvss"] is None else max(m["cvss"], score)
        for r in rems:
            if r not in m["rems"]:
                m["rems"].append(r)
    products = []
    for (pid, status), m in merged.items():
        if pid not in names:
            warnings.append(f"product {pid} is named in a vulnerability but not defined in the "
                            "product tree; it cannot be matched")
            continue
        vendor, product, version = names[pid]
        products.append(Product(pid, status, " ".join(vendor.split()), " ".join(product.split()),
                                version, tuple(m["cves"]), m["cvss"], tuple(m["rems"])))
    link = next((r["url"] for r in d.get("references", []) if r.get("category") == "self"), "")
    return Advisory(
        tracking_id=tracking["id"], revision=tracking["version"], title=d["title"],
        publisher=d["publisher"]["name"], initial_release_date=tracking["initial_release_date"],
        current_release_date=tracking["current_release_date"], kind=AdvisoryKind.CSAF,
        products=tuple(sorted(products, key=lambda p: (p.product_id, p.status))), link=link,
        warnings=tuple(warnings),
    )
