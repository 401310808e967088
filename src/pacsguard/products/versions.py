"""Version ranges from advisory text, and the comparable versions a machine reports.

**Ranges.** CSAF 2.0 leaves ``product_version`` / ``product_version_range`` names as free text
(CSAF 2.0 §3.1.2.3.3, §6.1.31); CISA's ICSMA advisories write ``<= 2.3.6``, ``2.3.6 and
below``, ``14.1.x``, ``1.1 | 1.2``, ``>= 1.0.0 | <= 1.3.1`` and ``vers:all/*``, but also dates
(``< august 28``), placeholders (``<=N``), model numbers and prose. :func:`parse_range` turns
the text into a `vers` string (github.com/package-url/purl-spec, VERS) and never guesses:
anything it cannot read with confidence is status ``"review"`` with a sentence saying why.

Rules, in order (the text is first folded to single spaces; ``≤``/``≥`` become ``<=``/``>=``):

1. ``*``, ``all``, ``all versions``, ``vers:all/*`` and ``vers:<scheme>/*``: status ``all``.
2. A ``vers:`` string is kept as written after univers validates it; ``vers:generic`` is
   re-encoded as ``vers:maven`` (see *Comparison* below).
3. Review: a month name or numeric date, ship/distribution prose, a placeholder (``N``, ``x``,
   ``n/a``, ``tbd``), a parenthesised note, words besides the version (``1.1.3 Build 10``), an
   operator between two versions (``A10 < A11``), a bare number of three or more digits
   (``3002``, ``24950``, ``>= 2003``: a model, part number or year), a letter-only segment
   inside a dotted version (``F.0.G.0``: two revisions run together), numeric and lettered
   bounds in one range, and two bounds in the same direction (``<= U61 | <= L81``: parallel
   product lines, which one range cannot express).
4. Prose bounds: ``X and below/earlier/prior/older`` is ``<=X``; ``X and later/above/newer``
   is ``>=X``; ``prior to X`` / ``before X`` is ``<X``; ``up to X`` is ``<=X``; ``X through Y``
   / ``X to Y`` is ``>=X|<=Y``.
5. Wildcards: ``14.1.x`` is ``>=14.1|<14.2``; ``<= 12.2.x.x`` is ``<12.3``; ``< 3.x`` is
   ``<3``; ``>= 4.x`` is ``>=4``; ``> 4.x`` is ``>=5``. Adjacent intervals are merged
   (``4.X | 5.X`` is ``>=4|<6``), since `vers` forbids the same version twice.
6. ``|`` separates constraints: all plain versions give status ``exact`` (a list); any
   operator gives ``range``. Constraints are sorted and the result is validated with univers
   (``validate=True``); any error there is status ``review`` with univers' message.

**Comparison.** univers' ``MavenVersion`` orders the version shapes medical vendors use:
``VA20A < VA30``, ``12.2.8.409 < 12.2.8.410 < 12.2.10``, ``3.0 == 3.0.0``, ``V3.0.1 ==
3.0.1``, ``2.4 < 2.4A``, ``B.06.18 < B.12``. ``vers:generic`` is not used: univers coerces it
to semver and drops a fourth component. ``vers:maven/...`` here names the comparison rule, not
a Maven package. A version is *comparable* when it is ASCII letters and digits joined by
``. _ - +``, holds a digit and is at most 64 characters. Numeric versions (``12.1``,
``v3.0``) and lettered ones (``VA48A``, ``R4.1L1``) are never ordered against each other:
:func:`version_in` and :func:`compare_versions` answer ``None`` instead, so ``VA48A`` is
not "below 3.0".

**Machine versions.** DICOM Software Versions (0018,1020) is multi-valued free text (PS3.3
§C.7.5.1). :func:`version_candidates` returns the comparable tokens of each value, values in
the order given, best first within a value, without duplicates:

a. a Siemens software line ``VA..VE`` or ``XA`` + two digits + optional letter, anywhere in the
   value and with any digit prefix dropped (``syngo CT VA48A`` -> ``VA48A``, ``syngo MR 2004V
   4VB11D`` -> ``VB11D``, ``N4_VB17A_LATEST_20090307`` -> ``VB17A``); the short form after
   ``syngo <modality>`` gains its ``V`` (``syngo MR B17`` -> ``VB17``);
b. when (a) found nothing, the whole value if it is one comparable token, after a leading
   ``Version``, ``Ver``, ``V``, ``Rev``, ``Release`` or ``SW`` word and a ``v`` before a digit
   are removed (``Version 3.3.1`` -> ``3.3.1``, ``R1.0.D``, ``RTNC1``, ``gmp_vct.43``,
   ``CX50_210``); a bare number of six or more digits (a part or serial number) and ISO dates
   are not versions;
c. dotted numeric tokens inside a longer value, split at spaces and underscores (``NT 8.1.1``
   -> ``8.1.1``, ``EPIQ 7C_1.7.1.24`` -> ``1.7.1.24``, ``453561492081__2.1.0.515__Ultra...``
   -> ``2.1.0.515``). Other words of a longer value (``EPIQ``, ``7C``, ``2004V``) are model or
   platform names and are left out, because one wrong candidate inside a range is enough to
   call a machine affected.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from univers.version_range import VersionRange
from univers.versions import MavenVersion, Version


class RangeStatus(StrEnum):
    """What :func:`parse_range` made of an advisory's version text (module docstring, *Ranges*);
    stored as ``advisory_products.range_status``."""

    ALL = "all"  # every version (``*``, ``all versions``, ``vers:all/*``)
    EXACT = "exact"  # a list of versions
    RANGE = "range"  # bounds
    REVIEW = "review"  # not read with confidence: ``ParsedRange.reason`` says why
    #: The advisory names no version at all (the importer writes it; parse_range never does)
    NONE = "none"


ALL_VERS = "vers:all/*"
MAX_VERSION_LENGTH = 64

_A = re.ASCII
_OP = r"(?P<op><=|>=|==|<|>|=)"
# A version as advisories write one: 12.2.8.410, 2.4A, 012U000040, 1.4.2.0-9d9eff4,
# 2023.3_Build_9342, VA20A, L81, R4.1L1, VM5.0, B.06.18, C.00.04.
_TOKEN = (
    r"[vV]?[0-9][0-9A-Za-z]*(?:[._-][0-9A-Za-z]+)*"
    r"|[A-Za-z]{1,3}[0-9][0-9A-Za-z]*(?:[._-][0-9A-Za-z]+)*"
    r"|[A-Za-z]\.[0-9][0-9A-Za-z]*(?:\.[0-9A-Za-z]+)*"
)
_CONSTRAINT = re.compile(rf"^{_OP}?\s*(?P<v>{_TOKEN})$", _A)
_WILDCARD = re.compile(rf"^{_OP}?\s*[vV]?(?P<num>[0-9]+(?:\.[0-9]+)*)(?P<wild>(?:\.[xX*])+)$", _A)
_MODEL_LIKE = re.compile(r"^[vV]?[A-Za-z]{0,2}[0-9]{3,}[A-Za-z]{0,2}$", _A)
_COMPARABLE = re.compile(r"^[A-Za-z0-9]+(?:[._+-][A-Za-z0-9]+)*$", _A)
_DIGIT = re.compile(r"[0-9]", _A)

_MONTH = re.compile(
    r"\b(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b",
    re.IGNORECASE,
)
_NUMERIC_DATE = re.compile(
    r"\b[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4}\b|\b[0-9]{4}-[0-9]{2}-[0-9]{2}\b", _A
)
_SHIP_PROSE = re.compile(
    r"\b(?:distributed|shipped|manufactured|released|between|sold|installed)\b", re.IGNORECASE
)
_PLACEHOLDERS = frozenset({"n", "x", "n/a", "na", "tbd", "unknown", "?", "-", "..."})
_INNER_OPERATOR = re.compile(r"\S\s*(?:<=|>=|<|>)\s*\S")
_ALL_WORDS = frozenset({"*", "all", "all versions", ALL_VERS})

_BELOW = re.compile(
    r"^(?P<v>\S+) (?:and|or) (?:below|earlier|prior|older|lower|before)$", re.IGNORECASE
)
_ABOVE = re.compile(r"^(?P<v>\S+) (?:and|or) (?:above|later|newer|higher|after)$", re.IGNORECASE)
_BEFORE = re.compile(
    r"^(?:prior to|before|earlier than|older than|lower than|below) (?P<v>\S+)$", re.IGNORECASE
)
_UP_TO = re.compile(r"^up to (?:and including )?(?P<v>\S+)$", re.IGNORECASE)
_THROUGH = re.compile(r"^(?P<a>\S+) (?:through|thru|to) (?P<b>\S+)$", re.IGNORECASE)

_LOWER = frozenset({">", ">="})
_UPPER = frozenset({"<", "<="})


@dataclass(frozen=True)
class ParsedRange:
    """An advisory's version text and what :func:`parse_range` made of it."""

    text: str  # the original text, unchanged
    status: RangeStatus
    vers: str | None  # a vers string univers accepts; None when status == "review"
    reason: str  # when status == "review": why, as a sentence; otherwise ""


@dataclass(frozen=True)
class _Constraint:
    op: str  # "=", "<", "<=", ">", ">="
    version: str


class _Review(Exception):
    """Internal: the text cannot be parsed with confidence; the message says why. Private
    control flow: raised and caught inside this module (``_parse_range`` turns it into status
    ``review``), so it never leaves it and is not in ``pacsguard.errors``."""


# --------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------


def _strip_v(token: str) -> str:
    """'v3.0.1' -> '3.0.1'; 'VA48A' is left alone."""
    if len(token) > 1 and token[0] in "vV" and token[1].isdigit():
        return token[1:]
    return token


def _is_comparable(version: str) -> bool:
    return (
        0 < len(version) <= MAX_VERSION_LENGTH
        and _COMPARABLE.match(version) is not None
        and _DIGIT.search(version) is not None
    )


def _family(version: str) -> str:
    """'numeric' or 'lettered': the two kinds of version that are never ordered together."""
    return "numeric" if _strip_v(version)[:1].isdigit() else "lettered"


@lru_cache(maxsize=65536)
def _maven(version: str) -> MavenVersion | None:
    """The univers MavenVersion of a comparable version, else None."""
    if not _is_comparable(version):
        return None
    try:
        return MavenVersion(version)
    except Exception:  # univers raises ValueError subclasses, or worse on odd input
        return None


def _univers_range(vers: str, *, validate: bool = False) -> VersionRange:
    """univers' parser, typed (it raises ValueError and its own exception types)."""
    parsed: VersionRange = VersionRange.from_string(  # type: ignore[no-untyped-call]
        vers, validate=validate
    )
    return parsed


def compare_versions(a: str, b: str) -> int | None:
    """-1, 0 or 1 as ``a`` is older than, the same as or newer than ``b``.

    None when either is not a comparable version, or when one is numeric and the other
    lettered (``2.0`` against ``VA48A``). Never raises.
    """
    a, b = a.strip(), b.strip()
    va, vb = _maven(a), _maven(b)
    if va is None or vb is None or _family(a) != _family(b):
        return None
    try:
        c = int(va.value.__cmp__(vb.value))
    except Exception:  # a univers comparison bug must not stop a match run
        return None
    return (c > 0) - (c < 0)


# --------------------------------------------------------------------------------------
# Ranges
# --------------------------------------------------------------------------------------


def parse_range(text: str) -> ParsedRange:
    """Parse an advisory's version text (module docstring, *Ranges*). Never raises."""
    return _parse_range(text)


@lru_cache(maxsize=8192)
def _parse_range(text: str) -> ParsedRange:
    try:
        status, vers = _parse(text)
    except _Review as why:
        return ParsedRange(text, RangeStatus.REVIEW, None, str(why))
    return ParsedRange(text, status, vers, "")


def _parse(text: str) -> tuple[RangeStatus, str]:
    s = unicodedata.normalize("NFKC", text).replace("≤", "<=").replace("≥", ">=")
    s = " ".join(s.split())
    low = s.casefold()
    if not s:
        raise _Review("The version text is empty.")
    if low in _ALL_WORDS:
        return RangeStatus.ALL, ALL_VERS
    if low.startswith("vers:"):
        return _parse_vers(s)
    if m := _MONTH.search(s):
        raise _Review(
            f"It limits the range by a date ({m.group(0)!r}), not a version; check the advisory "
            "for which versions that date means."
        )
    if _NUMERIC_DATE.search(s):
        raise _Review("It limits the range by a date, not a version; check the advisory.")
    if m := _SHIP_PROSE.search(s):
        raise _Review(f"It describes how the product was {m.group(0)}, not a version range.")
    if "(" in s or ")" in s:
        raise _Review(
            "It carries a note in parentheses that may narrow or widen the range; read it."
        )
    return _parse_constraints(_rewrite_prose(s))


def _rewrite_prose(s: str) -> str:
    """'2.3.6 and below' -> '<= 2.3.6', and the other prose bounds of the docstring."""
    if m := _BELOW.match(s):
        return f"<= {m.group('v')}"
    if m := _ABOVE.match(s):
        return f">= {m.group('v')}"
    if m := _BEFORE.match(s):
        return f"< {m.group('v')}"
    if m := _UP_TO.match(s):
        return f"<= {m.group('v')}"
    if m := _THROUGH.match(s):
        return f">= {m.group('a')} | <= {m.group('b')}"
    return s


def _parse_vers(s: str) -> tuple[RangeStatus, str]:
    vers = "".join(s.split())
    scheme, _, constraints = vers[len("vers:") :].partition("/")
    scheme = scheme.lower()
    if constraints == "*":
        return RangeStatus.ALL, ALL_VERS
    if scheme == "generic":  # univers' generic is semver-coerced (module docstring)
        scheme = "maven"
    vers = f"vers:{scheme}/{constraints}"
    try:
        parsed = _univers_range(vers, validate=True)
        comparators = {str(c.comparator) for c in parsed.constraints}
    except Exception as exc:
        raise _Review(f"univers rejects this vers string: {exc}") from None
    return (RangeStatus.EXACT if comparators <= {"="} else RangeStatus.RANGE), vers


def _parse_constraints(s: str) -> tuple[RangeStatus, str]:
    constraints: list[_Constraint] = []
    for part in (p.strip() for p in s.split("|")):
        if part:
            constraints.extend(_parse_part(part))
    if not constraints:
        raise _Review("It names no version.")
    constraints = _merge_adjacent(_dedupe(constraints))
    for i, c in enumerate(constraints):
        for o in constraints[i + 1 :]:
            if _sort_key(o.version) == _sort_key(c.version):
                raise _Review(
                    f"{s!r} names version {c.version} in two constraints "
                    f"({c.op}{c.version}, {o.op}{o.version}), which vers does not allow."
                )
    ordering = [c for c in constraints if c.op != "="]
    if len({_family(c.version) for c in ordering}) > 1:
        raise _Review("It mixes numeric and lettered versions as bounds, which do not compare.")
    constraints.sort(key=lambda c: _sort_key(c.version))
    _check_alternation(ordering, s)
    vers = "vers:maven/" + "|".join(
        c.version if c.op == "=" else f"{c.op}{c.version}" for c in constraints
    )
    try:
        _univers_range(vers, validate=True)
    except Exception as exc:
        raise _Review(f"The constraints do not form one valid vers range: {exc}") from None
    return (RangeStatus.EXACT if not ordering else RangeStatus.RANGE), vers


def _parse_part(part: str) -> list[_Constraint]:
    if m := _WILDCARD.match(part):
        return _wildcard(_op(m.group("op")), m.group("num"))
    m = _CONSTRAINT.match(part)
    if m is None:
        bare = part.lstrip("<>= ").casefold()
        if bare in _PLACEHOLDERS or (len(bare) == 1 and bare.isalpha()):
            raise _Review(f"{part!r} is a placeholder or a single letter, not a version.")
        if _INNER_OPERATOR.search(part):
            raise _Review(f"{part!r} puts an operator between two values, which is ambiguous.")
        if " " in part:
            raise _Review(f"{part!r} has words besides the version (a model, build or note).")
        raise _Review(f"{part!r} is not a recognisable version.")
    version = _strip_v(m.group("v"))
    if _MODEL_LIKE.match(m.group("v")):
        raise _Review(
            f"{version!r} looks like a model, part or year number (three or more digits "
            "without a dot), not a software version."
        )
    segments = version.split(".")
    if any(seg.isalpha() for seg in segments[1:-1]):
        raise _Review(
            f"{version!r} has a letter-only segment inside a dotted version; it may be two "
            "revisions run together."
        )
    return [_Constraint(_op(m.group("op")), version)]


def _op(op: str | None) -> str:
    return "=" if op in (None, "", "==") else str(op)


def _bump(num: str) -> str:
    """'12.2' -> '12.3': the first version after every '12.2.x'."""
    parts = num.split(".")
    parts[-1] = str(int(parts[-1]) + 1)
    return ".".join(parts)


def _wildcard(op: str, num: str) -> list[_Constraint]:
    if op == "<":
        return [_Constraint("<", num)]
    if op == "<=":
        return [_Constraint("<", _bump(num))]
    if op == ">=":
        return [_Constraint(">=", num)]
    if op == ">":
        return [_Constraint(">=", _bump(num))]
    return [_Constraint(">=", num), _Constraint("<", _bump(num))]


def _sort_key(version: str) -> MavenVersion:
    v = _maven(version)
    if v is None:
        raise _Review(f"{version!r} is not a comparable version.")
    return v


def _dedupe(constraints: list[_Constraint]) -> list[_Constraint]:
    """Drop repeated constraints ('MMT-1762 | MMT-1762'; '3.0 | 3.0.0' are one version)."""
    out: list[_Constraint] = []
    for c in constraints:
        key = _sort_key(c.version)
        if not any(o.op == c.op and _sort_key(o.version) == key for o in out):
            out.append(c)
    return out


def _merge_adjacent(constraints: list[_Constraint]) -> list[_Constraint]:
    """Join intervals that touch: '>=4|<5' and '>=5|<6' become '>=4|<6'."""
    touching = {("<", ">="), ("<=", ">"), ("<=", ">=")}
    out = list(constraints)
    changed = True
    while changed:
        changed = False
        for hi in out:
            for lo in out:
                if (hi.op, lo.op) in touching and _sort_key(hi.version) == _sort_key(lo.version):
                    out.remove(hi)
                    out.remove(lo)
                    changed = True
                    break
            if changed:
                break
    return out


def _check_alternation(ordering: list[_Constraint], text: str) -> None:
    """vers needs bounds to alternate lower/upper once sorted; say why in words if not."""
    ordering = sorted(ordering, key=lambda c: _sort_key(c.version))
    for cur, nxt in itertools.pairwise(ordering):
        if cur.op in _UPPER and nxt.op in _UPPER:
            raise _Review(
                f"{text!r} has several upper bounds ({cur.op}{cur.version}, "
                f"{nxt.op}{nxt.version}), usually parallel product lines (such as US and "
                "international releases); one range cannot say which applies."
            )
        if cur.op in _LOWER and nxt.op in _LOWER:
            raise _Review(
                f"{text!r} has several lower bounds ({cur.op}{cur.version}, "
                f"{nxt.op}{nxt.version}); one range cannot say which applies."
            )


# --------------------------------------------------------------------------------------
# Containment
# --------------------------------------------------------------------------------------


_SIMPLE_COMPARATORS = frozenset({"=", "<", "<=", ">", ">="})


@dataclass(frozen=True)
class _CompiledRange:
    range: VersionRange
    version_class: type[Version]
    families: frozenset[str]  # families of the bounds' versions (for maven ranges)
    # maven ranges with = < <= > >= only: (comparator, maven value) in vers order, for the
    # fast containment check; None means ask univers.
    bounds: tuple[tuple[str, Any], ...] | None


@lru_cache(maxsize=8192)
def _compiled(vers: str) -> _CompiledRange | None:
    try:
        parsed = _univers_range(vers)
        version_class: type[Version] | None = getattr(parsed, "version_class", None)
        constraints = [(str(c.comparator), c.version) for c in parsed.constraints]
        families = frozenset(
            _family(str(v.string)) for op, v in constraints if op not in ("=", "!=", "*")
        )
    except Exception:
        return None
    if version_class is None:  # the "none" scheme: no version is in it
        return None
    bounds = None
    if parsed.scheme != "maven":
        families = frozenset()
    elif all(op in _SIMPLE_COMPARATORS for op, _ in constraints):
        bounds = tuple((op, v.value) for op, v in constraints)
    return _CompiledRange(parsed, version_class, families, bounds)


def _maven_contains(value: Any, bounds: tuple[tuple[str, Any], ...]) -> bool:
    """vers containment (VERS spec, "checking if a version is contained within a range").

    The same decision as univers' ``contains_version`` for sorted, validated constraints,
    with one maven comparison per constraint instead of several.
    """
    ordering: list[tuple[str, int]] = []
    for op, bound in bounds:
        c = int(value.__cmp__(bound))
        if c == 0 and op in ("=", "<=", ">="):
            return True
        if op != "=":
            ordering.append((op, c))
    if not ordering:
        return False
    if ordering[0][0] in _UPPER and ordering[0][1] < 0:
        return True
    for (op1, c1), (op2, c2) in itertools.pairwise(ordering):
        if op1 in _LOWER and op2 in _UPPER and c1 > 0 and c2 < 0:
            return True
    return ordering[-1][0] in _LOWER and ordering[-1][1] > 0


def _version_of(version_class: type[Version], version: str) -> Version | None:
    if version_class is MavenVersion:
        return _maven(version)
    if not _is_comparable(version):
        return None
    try:
        return version_class(version)
    except Exception:
        return None


def version_in(vers: str, version: str) -> bool | None:
    """Is ``version`` inside the ``vers`` range? None when it cannot be compared.

    ``vers:all/*`` holds every version, comparable or not. None when the vers string is not
    valid, the version is not comparable, or a bound is of the other family (module
    docstring). Results are cached, so a fleet's few distinct versions cost one comparison
    each per range. Never raises.
    """
    return _version_in(vers, version.strip() if isinstance(version, str) else "")


@lru_cache(maxsize=1 << 17)
def _version_in(vers: str, version: str) -> bool | None:
    if vers == ALL_VERS:
        return True
    compiled = _compiled(vers)
    if compiled is None:
        return None
    if compiled.families and _family(version) not in compiled.families:
        return None
    v = _version_of(compiled.version_class, version)
    if v is None:
        return None
    try:
        if compiled.bounds is not None:
            return _maven_contains(v.value, compiled.bounds)
        return bool(v in compiled.range)
    except Exception:  # a univers comparison bug must not stop a match run
        return None


# --------------------------------------------------------------------------------------
# Machine versions (DICOM Software Versions)
# --------------------------------------------------------------------------------------

_SIEMENS_LINE = re.compile(
    r"(?<![A-Za-z0-9])[0-9]?(?P<v>V[A-E][0-9]{2}[A-Z]?|XA[0-9]{2}[A-Z]?)(?![A-Za-z0-9])", _A
)
_SYNGO_SHORT = re.compile(
    r"\bsyngo(?: [A-Za-z.]+)? (?P<v>[A-E][0-9]{2}[A-Z]?)(?![A-Za-z0-9])", _A | re.IGNORECASE
)
_KEYWORD = re.compile(
    r"^(?:software\s+)?(?:version|ver|v|release|rel|revision|rev|sw)(?:[.:#]\s*|\s+)",
    re.IGNORECASE,
)
_DOTTED = re.compile(r"^[vV]?[0-9]+(?:\.[0-9A-Za-z]+)+(?:-[0-9A-Za-z]+)*$", _A)
_PART_NUMBER = re.compile(r"^[0-9]{6,}$", _A)
_ISO_DATE = re.compile(r"^[0-9]{4}-?[0-9]{2}-?[0-9]{2}$", _A)
_SPLIT = re.compile(r"[\s_]+")
_EDGE_PUNCT = "()[]{},;:'\"<>"


def version_candidates(software_versions: Sequence[str]) -> list[str]:
    """The comparable version tokens of DICOM Software Versions values, best first.

    Rules in the module docstring (*Machine versions*). A single string is taken as one
    value, and DICOM's backslash separator splits values. Never raises.
    """
    values = [software_versions] if isinstance(software_versions, str) else software_versions
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            continue
        for part in value.split("\\"):
            for token in _candidates_of(part):
                if token not in out:
                    out.append(token)
    return out


def _candidates_of(value: str) -> list[str]:
    value = " ".join(value.split())
    if not value or len(value) > 1024:
        return []
    found = [m.group("v") for m in _SIEMENS_LINE.finditer(value)]
    found += ["V" + m.group("v").upper() for m in _SYNGO_SHORT.finditer(value)]
    whole = _strip_v(_KEYWORD.sub("", value, count=1))
    if (
        not found  # 'N4_VB17A_LATEST_20090307' is VB17A, not the whole string
        and _is_comparable(whole)
        and not _PART_NUMBER.match(whole)
        and not _ISO_DATE.match(whole)
    ):
        found.append(whole)
    for token in _SPLIT.split(value):
        token = token.strip(_EDGE_PUNCT)
        if _DOTTED.match(token) and len(token) <= MAX_VERSION_LENGTH:
            found.append(_strip_v(token))
    return found
