"""Tests for pacsguard.products.versions: advisory version text -> vers, and containment.

The strings are real: CISA ICSMA CSAF 2.0 branch names (tests/advisories/data) and DICOM
Software Versions (0018,1020) values seen on scanners.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from univers.version_range import VersionRange
from univers.versions import MavenVersion

from pacsguard.products.versions import (
    ParsedRange,
    _maven_contains,
    compare_versions,
    parse_range,
    version_candidates,
    version_in,
)

DATA = Path(__file__).parent / "data" / "cisa_version_names.txt"


def _real_names() -> list[str]:
    lines = DATA.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


REAL_NAMES = _real_names()


# --------------------------------------------------------------------------------------
# parse_range: what the text says
# --------------------------------------------------------------------------------------

PARSED = [
    # all versions
    ("vers:all/*", "all", "vers:all/*"),
    ("*", "all", "vers:all/*"),
    ("All versions", "all", "vers:all/*"),
    # exact versions and lists
    ("4.0", "exact", "vers:maven/4.0"),
    ("1.4.2.0-9d9eff4", "exact", "vers:maven/1.4.2.0-9d9eff4"),
    ("6.3V1L10", "exact", "vers:maven/6.3V1L10"),
    ("B.02 | C.02 | C.03", "exact", "vers:maven/B.02|C.02|C.03"),
    ("1.1 | 1.2 | 1.4 | 1.5", "exact", "vers:maven/1.1|1.2|1.4|1.5"),
    ("9.13 | 9.19 | 9.33 | 12.1", "exact", "vers:maven/9.13|9.19|9.33|12.1"),
    ("3.0|3.1", "exact", "vers:maven/3.0|3.1"),
    ("A10 | A11", "exact", "vers:maven/A10|A11"),
    ("3.0 | 3.0.0", "exact", "vers:maven/3.0"),  # one version written twice
    # operators
    ("< 012U000040", "range", "vers:maven/<012U000040"),
    ("<= 2.4A", "range", "vers:maven/<=2.4A"),
    ("< B.06.18", "range", "vers:maven/<B.06.18"),
    ("<= R4.1L1", "range", "vers:maven/<=R4.1L1"),
    ("<=2023.3_Build_9342", "range", "vers:maven/<=2023.3_Build_9342"),
    ("<=5.17.1-754993421", "range", "vers:maven/<=5.17.1-754993421"),
    (">= 1.0.0  | <= 1.3.1", "range", "vers:maven/>=1.0.0|<=1.3.1"),
    (">= 1.3.4 | < 1.5.3", "range", "vers:maven/>=1.3.4|<1.5.3"),
    (">= 2018-1 | <= 2021-1", "range", "vers:maven/>=2018-1|<=2021-1"),
    ("≤ 2.0", "range", "vers:maven/<=2.0"),
    # prose bounds
    ("2.3.6 and  below", "range", "vers:maven/<=2.3.6"),
    ("2.0 and later", "range", "vers:maven/>=2.0"),
    ("prior to 3.2", "range", "vers:maven/<3.2"),
    ("1.0 through 1.3", "range", "vers:maven/>=1.0|<=1.3"),
    # wildcards
    ("14.1.x", "range", "vers:maven/>=14.1|<14.2"),
    ("2.X", "range", "vers:maven/>=2|<3"),
    ("<= 12.2.x.x", "range", "vers:maven/<12.3"),
    ("<= 11.x", "range", "vers:maven/<12"),
    ("< 3.x", "range", "vers:maven/<3"),
    ("> 4.x", "range", "vers:maven/>=5"),
    ("4.X | 5.X", "range", "vers:maven/>=4|<6"),  # adjacent intervals merged
    ("1.1 | 2.x", "range", "vers:maven/1.1|>=2|<3"),
    # vers strings from other providers
    ("vers:generic/<12.2.8.410", "range", "vers:maven/<12.2.8.410"),
    ("vers:npm/1.0.0|1.2.0", "exact", "vers:npm/1.0.0|1.2.0"),
    ("vers:maven/*", "all", "vers:all/*"),
]


@pytest.mark.parametrize(("text", "status", "vers"), PARSED)
def test_parse_range_reads_real_version_text(text: str, status: str, vers: str) -> None:
    assert parse_range(text) == ParsedRange(text, status, vers, "")  # type: ignore[arg-type]


REVIEW = [
    # dates
    ("< august 28", "date"),
    ("distributed  < april 1, 2018", "date"),
    ("<8/30/2024", "date"),
    ("<May 2018", "date"),
    ("<  november 29 2017", "date"),
    ("with wireless option (shipped between 2016-August 2018)", "date"),
    # placeholders
    ("<=N", "placeholder"),
    ("<= K", "single letter"),
    # model numbers, prose, notes
    ("3002", "model"),
    ("24950 | 24952", "model"),
    ("620 | 650 | 650c", "model"),
    ("A51200", "model"),
    (">= 2003 | <= 2006", "year"),
    ("MMT-1711 | MMT-1712 | MMT-1751 | MMT-1752", "not a recognisable version"),
    ("882300 Gemini 16 Slice", "words"),
    ("1.1.3 Build 10", "words"),
    ("< 1.8.4 Service Pack 01", "words"),
    ("<= 3.0 D15", "words"),
    ("4.20 | 4.20 SR1 | 4.30", "words"),
    ("<=11.2 on Windows 8.1 with IIS 7.5", "words"),
    ("<= 1.54 (integrated into GE MobileLink)", "parentheses"),
    ("* (end-of-life 2011)", "parentheses"),
    ("v6.x (with Wireless Battery Modules v9 | v11 | >= v20D29 | <= v20D32)", "parentheses"),
    ("IGS", "not a recognisable version"),
    ("2nd Edition", "words"),
    # ambiguous structure
    ("<= U61 |<= L81", "several upper bounds"),
    ("A10 < A11", "operator between"),
    ("A.01 <= C.0x | 4.0", "operator between"),
    ("F.0.G.0 | J.3", "two revisions run together"),
    (">= 1.0 | <= B.2", "numeric and lettered"),
    ("<1.0 | >1.0", "two constraints"),
    ("", "empty"),
    ("vers:foo/<1", "univers rejects"),
]


@pytest.mark.parametrize(("text", "why"), REVIEW)
def test_parse_range_sends_what_it_cannot_read_to_review_with_a_reason(
    text: str, why: str
) -> None:
    parsed = parse_range(text)
    assert parsed.status == "review"
    assert parsed.vers is None
    assert parsed.text == text
    assert why in parsed.reason.casefold()


def test_every_real_cisa_version_name_is_a_valid_vers_or_review_with_a_reason() -> None:
    assert len(REAL_NAMES) == 267
    for name in REAL_NAMES:
        parsed = parse_range(name)
        assert parsed.text == name
        if parsed.status == "review":
            assert parsed.vers is None
            assert parsed.reason.strip(), name
        else:
            assert parsed.vers is not None
            assert parsed.reason == ""
            VersionRange.from_string(parsed.vers, validate=True)


def test_real_cisa_version_names_classify_as_documented() -> None:
    counts = Counter(parse_range(name).status for name in REAL_NAMES)
    assert counts == {"all": 1, "exact": 41, "range": 121, "review": 104}


# --------------------------------------------------------------------------------------
# Containment and comparison
# --------------------------------------------------------------------------------------

CONTAINED = [
    ("vers:maven/<VA30", "VA20A", True),
    ("vers:maven/<12.2.8.410", "12.2.8.409", True),
    ("vers:maven/<12.2.8.410", "12.2.8.410", False),
    ("vers:maven/<12.2.8.410", "12.2.10", False),
    ("vers:maven/<=3.0", "3.0.0", True),
    ("vers:maven/<=3.0", "3.0.1", False),
    ("vers:maven/<=3.0", "V3.0", True),
    ("vers:maven/<=2.4A", "2.4", True),
    ("vers:maven/<=2.4A", "2.10", False),
    ("vers:maven/<B.06.18", "B.06.17", True),
    ("vers:maven/<B.06.18", "B.12", False),
    ("vers:maven/>=1.0.0|<=1.3.1", "1.2.9", True),
    ("vers:maven/>=1.0.0|<=1.3.1", "1.3.2", False),
    ("vers:maven/>=1.0.0|<=1.3.1", "0.9", False),
    ("vers:maven/>=14.1|<14.2", "14.1.7", True),
    ("vers:maven/>=14.1|<14.2", "14.2", False),
    ("vers:maven/>=4|<6", "5.9.9", True),
    ("vers:maven/>=4|<6", "6.0", False),
    ("vers:maven/1.1|1.2|1.4|1.5", "1.2.0", True),
    ("vers:maven/1.1|1.2|1.4|1.5", "1.3", False),
    ("vers:maven/1.1|>=2|<3", "2.5", True),
    ("vers:maven/1.1|>=2|<3", "1.5", False),
    ("vers:all/*", "any text at all", True),
    ("vers:npm/>=1.0.0|<2.0.0", "1.5.0", True),
]


@pytest.mark.parametrize(("vers", "version", "inside"), CONTAINED)
def test_version_in_orders_vendor_versions(vers: str, version: str, inside: bool) -> None:
    assert version_in(vers, version) is inside


@pytest.mark.parametrize(
    ("vers", "version"),
    [
        ("vers:maven/<3.0", "VA48A"),  # lettered against numeric bounds
        ("vers:maven/<=R4.1L1", "4.1"),  # numeric against lettered bounds
        ("vers:maven/<3.0", "syngo CT VA48A"),  # not one token: use version_candidates
        ("vers:maven/<3.0", ""),
        ("vers:maven/<3.0", "2." + "1" * 100),  # longer than any real version
        ("vers:foo/<1", "1.0"),  # not a valid vers
        ("not vers at all", "1.0"),
    ],
)
def test_version_in_answers_none_when_it_cannot_compare(vers: str, version: str) -> None:
    assert version_in(vers, version) is None


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ("VA20A", "VA30", -1),
        ("VA48A", "VB11D", -1),
        ("VE11A", "VE10B", 1),
        ("12.2.8.409", "12.2.8.410", -1),
        ("12.2.10", "12.2.8.410", 1),
        ("3.0", "3.0.0", 0),
        ("V3.0.1", "3.0.1", 0),
        ("1.003", "1.3", 0),
        ("2.4", "2.4A", -1),
        ("B.06.18", "B.12", -1),
        ("L80", "L81", -1),
        ("2.0", "VA30", None),
        ("1.0", "not a version", None),
        ("", "1.0", None),
    ],
)
def test_compare_versions(a: str, b: str, order: int | None) -> None:
    assert compare_versions(a, b) == order
    assert compare_versions(b, a) == (None if order is None else -order)


# --------------------------------------------------------------------------------------
# version_candidates: DICOM Software Versions (0018,1020)
# --------------------------------------------------------------------------------------

CANDIDATES = [
    (["syngo CT VA48A"], ["VA48A"]),
    (["syngo MR 2004V 4VB11D"], ["VB11D"]),
    (["N4_VB17A_LATEST_20090307"], ["VB17A"]),
    (["syngo MR B17"], ["VB17"]),
    (["syngo MR XA20A"], ["XA20A"]),
    (["VE10B"], ["VE10B"]),
    (["NT 8.1.1"], ["8.1.1"]),
    (["1.3"], ["1.3"]),
    (["12.1"], ["12.1"]),
    (["EPIQ 7C_1.7.1.24"], ["1.7.1.24"]),
    (["EPIQ 5G_1.5.6.850"], ["1.5.6.850"]),
    (["Version 3.3.1"], ["3.3.1"]),
    (["V3.0.1"], ["3.0.1"]),
    (["R1.0.D"], ["R1.0.D"]),
    (["2.0"], ["2.0"]),
    (["12.23"], ["12.23"]),
    (["gmp_vct.43"], ["gmp_vct.43"]),
    (["RTNC1"], ["RTNC1"]),
    (["CX50_210"], ["CX50_210"]),
    (["453561492081__2.1.0.515__Ultrasound_Applicat--11/04/27]-07:23:23"], ["2.1.0.515"]),
    (["1.3", "2.0", "1.3"], ["1.3", "2.0"]),  # multi-valued, de-duplicated, order kept
    (["syngo CT VA48A", "VA48A"], ["VA48A"]),
    (["VB20A\\syngo MR E11"], ["VB20A", "VE11"]),  # an unsplit DICOM multi-value
    (["453561492081"], []),  # a part number
    (["20090307"], []),  # a date
    (["Ultrasound Application"], []),
    ([""], []),
    ([], []),
]


@pytest.mark.parametrize(("values", "expected"), CANDIDATES)
def test_version_candidates_picks_comparable_tokens(
    values: list[str], expected: list[str]
) -> None:
    assert version_candidates(values) == expected


def test_version_candidates_takes_a_single_string_as_one_value() -> None:
    assert version_candidates("syngo CT VA48A") == ["VA48A"]


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

VERSIONS = st.from_regex(r"\A[vV]?[0-9]{1,3}(\.[0-9]{1,3}){0,3}[A-Da-d]?\Z")


def _assert_parsed_well(text: str) -> None:
    parsed = parse_range(text)
    assert parsed.text == text
    if parsed.status == "review":
        assert parsed.vers is None and parsed.reason
    else:
        assert parsed.vers is not None and parsed.reason == ""
        VersionRange.from_string(parsed.vers, validate=True)


@settings(max_examples=400)
@given(st.text())
def test_parse_range_never_raises_and_only_returns_valid_vers(text: str) -> None:
    _assert_parsed_well(text)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "<", "<=", ">", ">=", "= "]), VERSIONS),
        min_size=1,
        max_size=4,
    )
)
def test_parse_range_never_raises_on_operator_lists(parts: list[tuple[str, str]]) -> None:
    _assert_parsed_well(" | ".join(op + v for op, v in parts))


@settings(max_examples=400)
@given(st.one_of(st.text(), st.sampled_from(REAL_NAMES).map(parse_range).map(
    lambda p: p.vers or p.text)), st.one_of(st.text(), VERSIONS))
def test_version_in_never_raises(vers: str, version: str) -> None:
    assert version_in(vers, version) in (True, False, None)
    assert compare_versions(version, vers) in (-1, 0, 1, None)


@settings(max_examples=400)
@given(
    st.lists(st.tuples(st.sampled_from(["", "<", "<=", ">", ">="]), VERSIONS), max_size=4),
    VERSIONS,
)
def test_fast_containment_agrees_with_univers(
    parts: list[tuple[str, str]], version: str
) -> None:
    try:
        rng = VersionRange.from_string(
            "vers:maven/" + "|".join(op + v for op, v in parts), validate=True
        )
    except Exception:
        return  # not a valid range; nothing to compare
    bounds = tuple((str(c.comparator), c.version.value) for c in rng.constraints)
    v = MavenVersion(version)
    assert _maven_contains(v.value, bounds) is (v in rng)
