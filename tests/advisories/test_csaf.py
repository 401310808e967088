"""Reading CSAF 2.0: the 138 real CISA medical advisories, the OASIS examples, and documents
that must be rejected whole with a clear reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pacsguard.advisories.csaf import parse_bytes
from pacsguard.errors import AdvisoryError
from tests.fleet import CSAF

OASIS = CSAF.parent / "oasis-examples"
ALL_CISA = sorted(CSAF.glob("*.json"))


def _doc(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CSAF / name).read_bytes())
    return loaded


def _parse(doc: dict[str, Any]) -> Any:
    return parse_bytes(json.dumps(doc).encode(), "test.json")


def test_every_real_cisa_medical_advisory_validates_and_flattens() -> None:
    assert len(ALL_CISA) == 138
    products = 0
    for p in ALL_CISA:
        adv = parse_bytes(p.read_bytes(), str(p))
        assert adv.tracking_id.upper().startswith("ICSMA-"), p
        assert adv.products, p
        assert all(pr.status == "known_affected" for pr in adv.products), p
        assert all(pr.cvss is None or 0.0 <= pr.cvss <= 10.0 for pr in adv.products)
        # CISA's stated scores all agree with their vectors: no warnings
        assert not [w for w in adv.warnings if "CVSS" in w], (p, adv.warnings)
        products += len(adv.products)
    assert products == 483  # every known_affected product of the 138 files (fixed data)


def test_a_flattened_advisory_keeps_vendor_version_text_cves_score_and_remediation() -> None:
    adv = parse_bytes((CSAF / "icsma-21-187-01.json").read_bytes(), "x")
    assert adv.tracking_id == "ICSMA-21-187-01"
    vue = [p for p in adv.products if p.product == "Vue PACS"]
    assert len(vue) == 1
    assert vue[0].vendor == "Philips"
    assert vue[0].version_text is not None and "12.2" in vue[0].version_text
    assert vue[0].cvss == 9.8
    assert "CVE-2020-1938" in vue[0].cves
    assert any(r.category == "vendor_fix" for r in vue[0].remediations)
    assert adv.max_cvss == 9.8


def test_the_oasis_examples_with_fixed_products_groups_and_relationships_flatten() -> None:
    bsi = parse_bytes((OASIS / "bsi-2022-0001.json").read_bytes(), "bsi")
    statuses = {p.status for p in bsi.products}
    assert {"fixed", "known_affected"} <= statuses or {"first_fixed"} & statuses
    rhsa = parse_bytes((OASIS / "rhsa-2021_5217.json").read_bytes(), "rhsa")
    assert rhsa.products and all(p.product for p in rhsa.products)
    for p in OASIS.rglob("*.json"):
        parse_bytes(p.read_bytes(), str(p))


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda d: d["document"].pop("title"), "/document: 'title' is a required property"),
    (lambda d: d["vulnerabilities"][0]["scores"][0]["cvss_v3"].__setitem__("baseScore", "9.8"),
     "baseScore: '9.8' is not of type 'number'"),
    (lambda d: d["document"]["tracking"].__setitem__("status", "published"),
     "/document/tracking/status: 'published' is not one of"),
    (lambda d: d["product_tree"]["branches"][0].__setitem__("category", "maker"),
     "/product_tree/branches/0/category: 'maker' is not one of"),
])
def test_an_invalid_document_is_rejected_whole_naming_the_field(mutate: Any, reason: str,
                                                                ) -> None:
    doc = copy.deepcopy(_doc("icsma-19-164-01.json"))
    mutate(doc)
    with pytest.raises(AdvisoryError) as err:
        _parse(doc)
    assert "test.json: not valid CSAF 2.0, nothing imported" in str(err.value)
    assert reason in str(err.value)


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "csaf_version is None"),
    (b'{"document": {"csaf_version": "2.1"}}', "csaf_version is '2.1'"),
])
def test_files_that_are_not_csaf_2_0_get_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(AdvisoryError, match=reason):
        parse_bytes(data, "bad.json")


def test_a_stated_score_that_disagrees_with_its_vector_is_a_warning_and_the_vector_wins(
) -> None:
    doc = _doc("icsma-19-164-01.json")
    score = doc["vulnerabilities"][0]["scores"][0]["cvss_v3"]
    stated, vector = score["baseScore"], score["vectorString"]
    score["baseScore"] = 1.0
    adv = _parse(doc)
    assert any("disagrees with its vector" in w and vector in w for w in adv.warnings)
    pids = set(doc["vulnerabilities"][0]["scores"][0]["products"])
    assert all(p.cvss is not None and p.cvss >= stated for p in adv.products
               if p.product_id in pids)


def test_reading_every_real_file_never_raises_anything_but_advisory_error(tmp_path: Path,
                                                                         ) -> None:
    """Truncations of a real document: each is a clear rejection, never a traceback."""
    data = (CSAF / "icsma-21-187-01.json").read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 60)):
        with pytest.raises(AdvisoryError):
            parse_bytes(data[:cut], "cut.json")
