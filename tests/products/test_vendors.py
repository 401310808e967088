"""Tests for pacsguard.products.vendors: one key per vendor, from advisories and DICOM.

Names are real: the vendor branches of CISA's ICSMA CSAF advisories and DICOM Manufacturer
(0008,0070) values written by scanners.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacsguard.products.vendors import (
    ALIASES,
    DISPLAY_NAMES,
    canonical_vendor,
    fix_mojibake,
    vendor_key,
    vendors_match,
)

# Clusters of spellings of one vendor in the CISA ICSMA advisories.
CSAF_CLUSTERS = [
    ("philips", ["Philips", "Phillips"]),
    ("ge healthcare", ["GE Healthcare", "General Electric (GE)"]),
    ("b braun", ["B. Braun", "B. Braun Medical", "B. Braun Melsungen AG"]),
    ("medtronic", ["Medtronic", "Medtronic "]),
    ("bd", ["Becton, Dickinson and Company (BD)", "BD"]),
    ("natus", ["Natus Medical, Inc. (Natus)"]),
    ("abbott", ["Abbott Laboratories", "St. Jude Medical"]),
    ("baxter", ["Baxter", "Hillrom"]),
    ("biotronik", ["BIOTRONIK", "Biotronik"]),
    ("zoll", ["ZOLL", "Zoll"]),
    ("sooil developments", ["SOOIL Developments Co, Ltd."]),
    ("innokas yhtymä", ["Innokas YhtymÃ¤ Oy", "Innokas Yhtymä Oy"]),
]

# DICOM Manufacturer (0008,0070) values as scanners write them.
DICOM_MANUFACTURERS = [
    ("siemens", ["SIEMENS", "Siemens Healthineers", "Siemens Healthcare GmbH", "ACUSON"]),
    (
        "ge healthcare",
        ["GE MEDICAL SYSTEMS", "GE Medical Systems", "G.E. Medical Systems", "GE Healthcare",
         "General Electric (GE)", "GE Vingmed Ultrasound AS", "GEHC"],
    ),
    ("philips", ["Philips Medical Systems", "Philips Healthcare", "Phillips",
                 "Philips Medical Systems Nederland B.V."]),
    ("canon medical", ["TOSHIBA", "Toshiba Medical Systems", "Canon Medical Systems",
                       "CANON_MEC"]),
    ("fujifilm", ["FUJI PHOTO FILM CO. LTD.", "FUJIFILM Corporation"]),
    ("agfa", ["Agfa", "AGFA", "Agfa-Gevaert"]),
    ("carestream", ["Carestream Health", "Carestream"]),
    ("hologic", ["Hologic, Inc.", "HOLOGIC"]),
]


@pytest.mark.parametrize(("key", "names"), CSAF_CLUSTERS + DICOM_MANUFACTURERS)
def test_spellings_of_one_vendor_share_one_key(key: str, names: list[str]) -> None:
    for name in names:
        assert vendor_key(name) == key, name
    for a in names:
        for b in names:
            assert vendors_match(a, b), (a, b)


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("SIEMENS", "Siemens Healthineers"),
        ("ACUSON", "Siemens Healthineers"),
        ("GE MEDICAL SYSTEMS", "GE Healthcare"),
        ("General Electric (GE)", "GE Healthcare"),
        ("Phillips", "Philips"),
        ("TOSHIBA", "Canon Medical Systems"),
        ("FUJI PHOTO FILM CO. LTD.", "Fujifilm"),
        ("Becton, Dickinson and Company (BD)", "BD"),
        ("B. Braun Melsungen AG", "B. Braun"),
        ("Medtronic ", "Medtronic"),
        ("Innokas YhtymÃ¤ Oy", "Innokas Yhtymä Oy"),  # no display name: repaired original
        ("  Swisslog   Healthcare ", "Swisslog Healthcare"),
    ],
)
def test_canonical_vendor_gives_the_display_name(name: str, display: str) -> None:
    assert canonical_vendor(name) == display


@pytest.mark.parametrize(
    ("multi", "each"),
    [
        ("Silex Technology and GE Healthcare", ["Silex Technology", "GE MEDICAL SYSTEMS"]),
        ("BMC Medical, 3B Medical", ["BMC Medical", "3B Medical"]),
        ("Hillrom and ELI, Baxter International Inc.", ["Hillrom", "ELI", "Baxter"]),
        (
            "ENEA, Green Hills Software, ITRON, IP Infusion, and Wind River",
            ["ENEA", "Green Hills Software", "ITRON", "IP Infusion", "Wind River"],
        ),
    ],
)
def test_a_multi_vendor_name_matches_each_vendor_it_names(multi: str, each: list[str]) -> None:
    for name in each:
        assert vendors_match(multi, name), name
        assert vendors_match(name, multi), name
    assert not vendors_match(multi, "Philips")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Philips", "Siemens"),
        ("GE", "Gentherm"),
        ("GE Healthcare", "Gentherm"),
        ("GE MEDICAL SYSTEMS", "GE Aviation"),
        ("Silex Technology and GE Healthcare", "Gentherm"),
        ("Canon Medical Systems", "Canon Inc."),
        ("Hamilton Medical AG", "Hamilton Company"),
        ("Johnson & Johnson", "Johnson Controls"),
        ("Becton, Dickinson and Company (BD)", "Dickinson"),
        ("BMC Medical, 3B Medical", "Medical"),
        ("Smiths Medical", "Smith"),
        ("Medtronic", "Medtronic MiniMed Holdings Inc"),  # not listed: no prefix matching
        ("", ""),
        ("", "Philips"),
    ],
)
def test_different_vendors_do_not_match(a: str, b: str) -> None:
    assert not vendors_match(a, b)
    assert not vendors_match(b, a)


@pytest.mark.parametrize(
    ("broken", "fixed"),
    [
        ("Innokas YhtymÃ¤ Oy", "Innokas Yhtymä Oy"),
        ("DrÃ¤ger", "Dräger"),
        ("MÃ¶ller-WedelÂ®", "Möller-Wedel®"),
        ("DrÃƒÂ¤ger", "Dräger"),  # encoded twice
    ],
)
def test_fix_mojibake_repairs_utf8_read_as_windows_1252(broken: str, fixed: str) -> None:
    assert fix_mojibake(broken) == fixed


@pytest.mark.parametrize("clean", ["Dräger", "Siemens", "Yhtymä", "Ñandú", "東芝", "", "“U”"])
def test_fix_mojibake_leaves_clean_text_alone(clean: str) -> None:
    assert fix_mojibake(clean) == clean


def test_aliases_point_at_keys_that_are_their_own_keys() -> None:
    for spelling, key in ALIASES.items():
        assert vendor_key(key) == key, spelling
    for key in DISPLAY_NAMES:
        assert vendor_key(key) == key
        assert vendor_key(DISPLAY_NAMES[key]) == key


def _assert_consistent(name: str) -> None:
    fixed = fix_mojibake(name)
    assert fix_mojibake(fixed) == fixed
    key = vendor_key(name)
    assert vendor_key(canonical_vendor(name)) == key  # a stored display name keys the same
    assert vendors_match(name, name) is bool(key)


@given(st.text())
def test_vendor_functions_never_raise_and_agree_with_each_other(name: str) -> None:
    _assert_consistent(name)


@given(st.text(alphabet=st.characters(codec="cp1252")))
def test_vendor_functions_hold_on_windows_1252_text(name: str) -> None:
    _assert_consistent(name)  # the alphabet of mojibake
