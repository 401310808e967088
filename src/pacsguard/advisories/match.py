"""Which machine does which advisory hit (docs/advisories.md §Matching).

For each product of each current advisory and each machine of the same vendor:

1. **Product.** The advisory's product name and the machine's model name are compared as
   words (case-folded letters and digits; the vendor's own name and filler such as "series",
   "software", "all" dropped). They match when every word of the product name begins a word of
   the model ("Optima CT" matches "Optima CT660"), or every word of the model is in the product
   name ("Vue PACS" matches "Philips Vue PACS Server"). A product name that excludes something
   ("..., not including EchoPAC"), carries its own version ("IntelliSpace Portal 8.0.x") or
   a platform ("SPECT Workplaces/Symbia.net Windows XP-Based"), or words that agree only up
   to a spelling slip ("Millenium MG" in a CISA advisory,
   "MILLENNIUM MG" in GE's images), cannot be decided by words alone: ``needs review``.
2. **Version.** The advisory's version text, parsed once at import (``versions.parse_range``),
   against the comparable version tokens of the machine's Software Versions. A range that could
   not be parsed with confidence, or a machine with no comparable version, gives ``needs
   review``; never a guess.
3. **Status.** In range of an affected product: ``affected``. In range of a fixed product:
   ``fixed``. In range of a known-not-affected product: ``not affected``. Out of every affected
   range of a product that matched: ``not affected``. For one advisory and one machine the
   strongest wins: affected, then fixed, then needs review, then not affected.

Every result says why: which product and range matched which model and version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache

from pacsguard.advisories.model import AFFECTED, FIXED, NOT_AFFECTED
from pacsguard.advisories.store import StoredProduct
from pacsguard.advisories.vendors import vendor_key, vendors_match
from pacsguard.advisories.versions import version_candidates, version_in
from pacsguard.inventory.machines import Machine


class MatchStatus(StrEnum):
    AFFECTED = "affected"
    FIXED = "fixed"
    NEEDS_REVIEW = "needs review"
    NOT_AFFECTED = "not affected"


_RANK = {MatchStatus.AFFECTED: 0, MatchStatus.FIXED: 1, MatchStatus.NEEDS_REVIEW: 2,
         MatchStatus.NOT_AFFECTED: 3}
_WORD = re.compile(r"[0-9a-z]+")
_FILLER = frozenset({"the", "and", "of", "for", "with", "all", "series", "software", "system",
                     "systems", "product", "products", "family", "models", "model", "devices",
                     "device", "version", "versions", "medical", "healthcare"})
_EXCLUSION = re.compile(r"\b(not including|except|excluding|other than)\b", re.I)
_VERSION_IN_NAME = re.compile(r"\b[vV]?\d+(\.\d+)+(\.[xX*])?\b|\b\d+\.[xX*]\b")
_PLATFORM = re.compile(r"\b(windows|win ?(xp|7|8|10|11)|linux|unix)\b", re.I)


def _qualifier(product: str) -> str | None:
    """Why a product name cannot be settled by words: it names versions, a platform or an
    exclusion of its own."""
    if _EXCLUSION.search(product):
        return "the product name excludes some models"
    if _PLATFORM.search(product):
        return "the product name limits it to a platform (operating system) the images do not show"
    if _VERSION_IN_NAME.search(product):
        return "the product name carries its own version"
    return None


@dataclass(frozen=True)
class Match:
    tracking_id: str
    revision: str
    title: str
    published: str
    machine_id: int
    machine: str
    status: MatchStatus
    cves: tuple[str, ...]
    cvss: float | None
    remediations: tuple[str, ...]
    reasons: tuple[str, ...]
    fixes: tuple[str, ...] = ()  # the versions the advisory names as fixed, in words


@dataclass
class _Acc:
    status: MatchStatus
    cves: set[str] = field(default_factory=set)
    cvss: float | None = None
    remediations: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)


def fix_hints(p: StoredProduct) -> list[str]:
    """The fixed versions a product row names: the version text of a fixed product, or the
    upper bounds of an affected range ("<12.2.8.410" -> "12.2.8.410 or later")."""
    if p.status in FIXED and p.version_text:
        return [p.version_text]
    if p.status not in AFFECTED or not p.vers or "/" not in p.vers:
        return []
    hints = []
    for c in p.vers.split("/", 1)[1].split("|"):
        if c.startswith("<="):
            hints.append(f"later than {c[2:]}")
        elif c.startswith("<"):
            hints.append(f"{c[1:]} or later")
    return hints


def _words(text: str, drop: frozenset[str] = frozenset()) -> tuple[str, ...]:
    return tuple(w for w in _WORD.findall(text.casefold()) if w not in _FILLER and w not in drop)


_vendor_key = lru_cache(maxsize=8192)(vendor_key)
_vendors_match = lru_cache(maxsize=65536)(vendors_match)


@lru_cache(maxsize=4096)
def _vendor_words(vendor: str) -> frozenset[str]:
    return frozenset(_words(vendor)) | frozenset(_vendor_key(vendor).split())


@lru_cache(maxsize=65536)
def _name_words(name: str, vendor: str) -> tuple[str, ...]:
    """The words of a product or model name, without its vendor's own name, and for a
    product, without what follows "not including"."""
    return _words(_EXCLUSION.split(name, maxsplit=1)[0], _vendor_words(vendor))


def _near(a: str, b: str) -> bool:
    """Two words one slip apart ("Millenium" / "MILLENNIUM"): at least 5 letters, the same
    first letter, and one letter added, dropped or changed."""
    if a[0] != b[0] or abs(len(a) - len(b)) > 1 or len(a) < 5 or len(b) < 5:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((k for k, (x, y) in enumerate(zip(short, long, strict=False)) if x != y),
             len(short))
    return short[i:] == long[i + 1 :]


@lru_cache(maxsize=65536)
def product_fits(product: str, vendor: str, model: str) -> str | None:
    """'match', 'review' or None: does the advisory's product name name this model?

    'review' when the words only nearly agree (a spelling slip on either side), or when the
    product name qualifies itself with a version, a platform or an exclusion."""
    p = _name_words(product, vendor)
    m = _name_words(model, vendor)
    if not p or not m:
        return None
    if (all(any(mw.startswith(pw) for mw in m) for pw in p)
            or all(mw in p for mw in m)):
        return "review" if _qualifier(product) else "match"
    if (all(any(mw.startswith(pw) or _near(pw, mw) for mw in m) for pw in p)
            or all(any(mw == pw or _near(pw, mw) for pw in p) for mw in m)):
        return "review"
    return None


def _version_verdict(p: StoredProduct, versions: Sequence[str]) -> tuple[bool | None, str]:
    """(in range?, why); None when it cannot be decided."""
    if p.range_status in ("all", "none"):
        what = "all versions" if p.range_status == "all" else "no version named"
        return True, f"advisory covers {what} ({p.version_text or 'no version text'})"
    if p.range_status == "review" or p.vers is None:
        return None, f"version text {p.version_text!r} needs review: {p.range_reason}"
    candidates = version_candidates(versions)
    if not candidates:
        shown = "\\".join(versions) or "none"
        return None, (f"machine reports no comparable software version ({shown}) for "
                      f"{p.version_text!r}")
    outcomes = [(c, version_in(p.vers, c)) for c in candidates]
    hit = next((c for c, ok in outcomes if ok), None)
    if hit is not None:
        return True, f"version {hit} is in {p.version_text!r} ({p.vers})"
    if all(ok is False for _, ok in outcomes):
        return False, (f"version {candidates[0]} is outside {p.version_text!r} ({p.vers})")
    return None, f"version {candidates[0]} cannot be compared with {p.version_text!r}"


def _judge(p: StoredProduct, model: str, versions: tuple[str, ...],
           ) -> tuple[MatchStatus, str] | None:
    fit = product_fits(p.product, p.vendor or p.vendor_raw, model)
    if fit is None:
        return None
    why = f"{p.vendor_raw} {p.product!r} ~ model {model!r}"
    if fit == "review":
        note = _qualifier(p.product) or "the names agree only up to a spelling difference"
        return MatchStatus.NEEDS_REVIEW, f"{why}: needs review, {note}"
    inside, vwhy = _version_verdict(p, versions)
    why = f"{why}; {vwhy}"
    if inside is None:
        return MatchStatus.NEEDS_REVIEW, why
    if p.status in AFFECTED:
        return (MatchStatus.AFFECTED if inside else MatchStatus.NOT_AFFECTED), why
    if not inside:
        return None  # out of a fixed or not-affected range says nothing
    if p.status in FIXED:
        return MatchStatus.FIXED, why
    if p.status in NOT_AFFECTED:
        return MatchStatus.NOT_AFFECTED, why
    return MatchStatus.NEEDS_REVIEW, f"{why} (advisory status {p.status})"


def _add(acc: _Acc, p: StoredProduct, status: MatchStatus, why: str) -> None:
    """Fold one product's verdict into an (advisory, machine) result."""
    if _RANK[status] < _RANK[acc.status]:
        # a stronger verdict: what weaker products said (their CVEs, scores, remediations)
        # no longer describes this pair, whatever order the products came in
        acc.status = status
        acc.cves.clear()
        acc.cvss = None
        acc.remediations.clear()
    if _RANK[status] <= _RANK[acc.status] or status is not MatchStatus.NOT_AFFECTED:
        acc.cves.update(p.cves)
        if p.cvss is not None:
            acc.cvss = p.cvss if acc.cvss is None else max(acc.cvss, p.cvss)
        for r in p.remediations:
            text = f"{r.category}: {r.details}" + (f" <{r.url}>" if r.url and
                                                   r.url not in r.details else "")
            if text not in acc.remediations:
                acc.remediations.append(text)
    reason = f"[{p.product_id} {p.status}] {why}"
    if reason not in acc.reasons:
        acc.reasons.append(reason)
    for hint in fix_hints(p):
        if hint not in acc.fixes:
            acc.fixes.append(hint)


def match(products: Iterable[StoredProduct], machines: Sequence[Machine]) -> list[Match]:
    """Every (advisory, machine) pair the advisories say something about."""
    # Machines grouped by vendor, model and software versions: a product's name is compared
    # once per model and its range once per version, not once per machine (measured: 3.3 s
    # down to well under 1 s for 138 advisories x 5,000 machines).
    groups: dict[str, dict[str, dict[tuple[str, ...], list[Machine]]]] = {}
    names: dict[str, str] = {}
    for m in machines:
        key = _vendor_key(m.manufacturer or m.vendor)
        names.setdefault(key, m.manufacturer or m.vendor)
        (groups.setdefault(key, {}).setdefault(m.model, {})
         .setdefault(m.software_versions, []).append(m))
    vendor_hits: dict[str, list[str]] = {}
    results: dict[tuple[str, int], _Acc] = {}
    meta: dict[str, tuple[str, str, str]] = {}
    for p in products:
        vendor = p.vendor_raw or p.vendor
        keys = vendor_hits.get(vendor)
        if keys is None:
            keys = vendor_hits[vendor] = [k for k in groups if _vendors_match(vendor, names[k])]
        for key in keys:
            for model, by_versions in groups[key].items():
                if product_fits(p.product, p.vendor or p.vendor_raw, model) is None:
                    continue
                for versions, members in by_versions.items():
                    judged = _judge(p, model, versions)
                    if judged is None:
                        continue
                    meta[p.tracking_id] = (p.revision, p.title, p.published)
                    for m in members:
                        _add(results.setdefault((p.tracking_id, m.id), _Acc(judged[0])), p,
                             *judged)
    by_id = {m.id: m for m in machines}
    out = []
    for (tid, mid), acc in results.items():
        revision, title, published = meta[tid]
        out.append(Match(tid, revision, title, published, mid, by_id[mid].label, acc.status,
                         tuple(sorted(acc.cves)), acc.cvss, tuple(acc.remediations),
                         tuple(acc.reasons), tuple(acc.fixes)))
    out.sort(key=lambda x: (_RANK[x.status], -(x.cvss or 0.0), x.tracking_id, x.machine))
    return out
