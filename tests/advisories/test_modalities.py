"""Which product names are modality families (advisories/modalities.py), checked against
every product name of the 138 real CISA advisories and ICSMA-21-313-01."""

from __future__ import annotations

import pytest

from pacsguard.advisories.csaf import parse_bytes
from pacsguard.advisories.modalities import modality_family
from pacsguard.products.vendors import vendor_key
from tests.fleet import CSAF, CSAF_LATER


def _family(product: str, vendor: str = "") -> frozenset[str] | None:
    words = frozenset(vendor_key(vendor).split()) if vendor else frozenset()
    fam = modality_family(product, words)
    return fam.codes if fam else None


@pytest.mark.parametrize(("product", "vendor", "codes"), [
    ("MRI 1.5T", "Philips", {"MR"}),
    ("MRI 3T", "Philips", {"MR"}),
    ("3 Tesla Magnetic Resonance Imaging Systems", "", {"MR"}),
    ("CT Scanners", "", {"CT"}),
    ("Computed Tomography", "", {"CT"}),
    ("Siemens PET/CT Systems Windows 7-Based", "Siemens", {"PT"}),
    ("PET-CT", "", {"PT"}),
    ("SPECT/CT Systems", "", {"NM"}),
    ("Digital X-Ray Systems", "", {"CR", "DX", "DR", "RF", "XA", "MG", "IO", "PX", "RG"}),
    ("Mammography Systems", "", {"MG"}),
    ("Ultrasound Systems", "", {"US", "IVUS"}),
    ("US", "", {"US", "IVUS"}),
    ("DR Systems", "", {"DX", "DR"}),
    ("Fluoroscopy", "", {"RF"}),
    ("Angiography Systems", "", {"XA"}),
])
def test_names_made_of_a_modality_and_qualifiers_are_families(
        product: str, vendor: str, codes: set[str]) -> None:
    assert _family(product, vendor) == codes


@pytest.mark.parametrize(("product", "vendor"), [
    ("Accent MRI", "Abbott Laboratories"),  # a pacemaker, "MRI" conditional
    ("Mirro MRI ICD", "Medtronic"),  # an implantable defibrillator
    ("Optima MR360", "GE Healthcare"),  # "MR360" is one word: a model
    ("Optima CT660", "GE Healthcare"),
    ("Data module compactPlus", "B. Braun Medical"),  # "ct" inside a word
    ("Millenium MG", "GE Healthcare"),  # a gamma camera, not mammography
    ("Gemini PET/CT Family", "Philips"),  # "Gemini" is a model line
    ("Ultrasound CX", "Philips"),  # "CX" is a model
    ("Philips HDI 4000 Ultrasound Systems", "Philips"),
    ("RF models EX1150", "St. Jude Medical"),  # radio frequency, and a model
    ("Pyxis KanBan RF", "Becton, Dickinson and Company (BD)"),
    ("Windows XP", "Spacelabs"),
    ("DR Systems", "DR Systems"),  # the vendor's own name is not a modality
    ("GE Healthcare LOGIQ, not including LOGIQ 100 Pro", "GE Healthcare"),
    ("CT and Vue PACS", "Philips"),
])
def test_a_name_with_any_other_word_is_not_a_family(product: str, vendor: str) -> None:
    assert _family(product, vendor) is None


def test_of_the_real_advisories_only_three_product_lines_are_modality_families() -> None:
    """All 483 product lines of the 138 CISA advisories and the two of ICSMA-21-313-01: the
    only families are Siemens' PET/CT systems and Philips' MRI 1.5T and 3T; the twelve other
    names with a modality word (pacemakers "Accent MRI", "Ultrasound CX", "Gemini PET/CT
    Family", ...) name models."""
    families, lines = set(), 0
    for f in sorted([*CSAF.glob("*.json"), *CSAF_LATER.glob("*.json")]):
        adv = parse_bytes(f.read_bytes(), str(f))
        for p in adv.products:
            lines += 1
            codes = _family(p.product, p.vendor)
            if codes is not None:
                families.add((adv.tracking_id, p.product, tuple(sorted(codes))))
    assert lines == 485
    assert families == {("ICSMA-17-215-02", "Siemens PET/CT Systems Windows 7-Based", ("PT",)),
                        ("ICSMA-21-313-01", "MRI 1.5T", ("MR",)),
                        ("ICSMA-21-313-01", "MRI 3T", ("MR",))}
