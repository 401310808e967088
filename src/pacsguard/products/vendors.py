"""Vendor names as advisories and DICOM images write them, reduced to one key per vendor.

Advisories name vendors loosely (CISA's ICSMA set alone has ``Philips`` and ``Phillips``,
``GE Healthcare`` and ``General Electric (GE)``, three spellings of B. Braun, ``'Medtronic '``
with a trailing space and one mojibake name), and DICOM Manufacturer (0008,0070) values
differ again (``SIEMENS``, ``GE MEDICAL SYSTEMS``, ``FUJI PHOTO FILM CO. LTD.``).

:func:`vendor_key` normalises a name in these steps:

1. repair UTF-8 that was decoded as Windows-1252 (:func:`fix_mojibake`), fold whitespace,
   drop control characters, then NFKC and case-fold;
2. drop parenthesised asides (``General Electric (GE)`` -> ``general electric``);
3. turn punctuation into spaces and join runs of single letters (``G.E.`` -> ``ge``,
   ``B.V.`` -> ``bv``; ``B. Braun`` stays ``b braun``);
4. drop trailing legal-form words (``Inc``, ``Ltd``, ``GmbH``, ``Co``, ``Company``, ``Oy``,
   ``International``, ...), so ``Hologic, Inc.`` -> ``hologic``;
5. look the result up in :data:`ALIASES`; a name not listed is its own key.

Only whole keys are compared, never prefixes or single words, so ``GE`` does not match
``Gentherm`` or ``GE Aviation``. A string that names several vendors (``Silex Technology and
GE Healthcare``, ``BMC Medical, 3B Medical``) is split at commas, semicolons and the word
"and" when its whole key is not a known vendor; :func:`vendors_match` then matches each vendor
it names. Names that contain "and" themselves must be aliases (``Becton, Dickinson and
Company``).

**Toshiba and Canon are one vendor.** Toshiba Medical Systems became Canon Medical Systems
(bought 2016, renamed 2018); the same CT, MR and ultrasound lines continue, scanners installed
earlier still write ``TOSHIBA`` and Canon Medical publishes the advisories for them. Plain
``Canon`` (Canon Inc., which makes its own DR detectors) stays separate. The cost: an advisory
for Toshiba's non-medical products would reach Canon Medical scanners by vendor, and only the
product comparison keeps it out.

Corporate lineage is aliased only where the acquirer now publishes the advisories for the
acquired brand's installed devices (Acuson, Toshiba Medical, St. Jude Medical, Hillrom,
Capsule); each entry says so.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

#: Normalised spelling (vendor_key steps 1-4) -> canonical key. Obvious spellings of a
#: canonical key need no entry; the reason is given for every entry that is not obvious.
ALIASES: dict[str, str] = {
    # --- Philips --------------------------------------------------------------------------
    "philips medical systems": "philips",  # DICOM Manufacturer on Philips CT/MR/XR
    "philips medical systems nederland": "philips",  # "... Nederland B.V." on MR and XA
    "philips healthcare": "philips",
    "philips ultrasound": "philips",  # "Philips Ultrasound, Inc." on EPIQ/Affiniti images
    "phillips": "philips",  # misspelling in 2 CISA advisories (ICSMA vendor field)
    "capsule technologies": "philips",  # bought by Philips 2021; advisories are Philips'
    # --- GE HealthCare ---------------------------------------------------------------------
    "ge": "ge healthcare",
    "gehc": "ge healthcare",  # GE HealthCare's own abbreviation (ticker and PSIRT)
    "ge medical systems": "ge healthcare",  # DICOM Manufacturer on GE CT/MR/XR ("G.E." too)
    "ge medical systems information technologies": "ge healthcare",  # patient monitoring
    "ge healthcare japan": "ge healthcare",
    "ge yokogawa medical systems": "ge healthcare",  # GE's Japanese CT/MR joint venture
    "ge vingmed ultrasound": "ge healthcare",  # Vivid cardiac ultrasound (Horten, Norway)
    "ge oec medical systems": "ge healthcare",  # OEC C-arms
    "general electric": "ge healthcare",  # CISA's "General Electric (GE)" for GE Healthcare
    # --- Siemens Healthineers ------------------------------------------------------------
    "siemens healthineers": "siemens",
    "siemens healthcare": "siemens",  # "Siemens Healthcare GmbH" on current scanners
    "siemens medical solutions": "siemens",
    "siemens medical solutions usa": "siemens",
    "siemens medical systems": "siemens",
    "acuson": "siemens",  # Acuson ultrasound, a Siemens line since 2000 (Sequoia, S2000)
    # --- Canon Medical Systems (formerly Toshiba Medical; module docstring) ------------------
    "canon medical systems": "canon medical",
    "canon mec": "canon medical",  # DICOM Manufacturer "CANON_MEC" on Canon Medical scanners
    "toshiba": "canon medical",  # DICOM Manufacturer "TOSHIBA" on Toshiba Medical scanners
    "toshiba medical": "canon medical",
    "toshiba medical systems": "canon medical",
    "toshiba america medical systems": "canon medical",
    # --- Fujifilm --------------------------------------------------------------------------
    "fuji": "fujifilm",
    "fuji photo film": "fujifilm",  # FUJIFILM's name until 2006, on older CR and PACS images
    "fujifilm medical systems": "fujifilm",
    "fujifilm medical systems usa": "fujifilm",
    "fujifilm healthcare": "fujifilm",
    "hitachi medical": "fujifilm",  # Hitachi's imaging business became Fujifilm's in 2021
    "hitachi healthcare": "fujifilm",  # (plain "Hitachi" stays Hitachi)
    # --- Agfa, Carestream -----------------------------------------------------------------
    "agfa gevaert": "agfa",
    "agfa healthcare": "agfa",
    "carestream health": "carestream",
    "kodak": "carestream",  # Kodak's Health Group became Carestream Health in 2007 (CR units)
    # --- Vendors of CISA's ICSMA advisories ------------------------------------------------
    "b braun medical": "b braun",
    "b braun melsungen": "b braun",
    "becton dickinson": "bd",  # "Becton, Dickinson and Company (BD)", 21 ICSMA advisories
    "natus medical": "natus",
    "abbott laboratories": "abbott",
    "st jude medical": "abbott",  # bought by Abbott 2017; its devices' advisories are Abbott's
    "hillrom": "baxter",  # bought by Baxter 2021 ("Hillrom and ELI, Baxter International")
    "hill rom": "baxter",
}

#: Canonical key -> display name. A key not listed displays as the cleaned name it came from.
DISPLAY_NAMES: dict[str, str] = {
    "philips": "Philips",
    "ge healthcare": "GE Healthcare",
    "siemens": "Siemens Healthineers",
    "canon medical": "Canon Medical Systems",
    "fujifilm": "Fujifilm",
    "agfa": "Agfa HealthCare",
    "carestream": "Carestream Health",
    "hologic": "Hologic",
    "b braun": "B. Braun",
    "bd": "BD",
    "natus": "Natus Medical",
    "abbott": "Abbott",
    "baxter": "Baxter",
    "medtronic": "Medtronic",
}

_KNOWN = frozenset(ALIASES) | frozenset(ALIASES.values()) | frozenset(DISPLAY_NAMES)

_LEGAL = frozenset({
    "ab", "ag", "and", "as", "bv", "co", "company", "corp", "corporation", "gmbh", "inc",
    "incorporated", "international", "kg", "kk", "limited", "llc", "ltd", "nv", "oy", "oyj",
    "plc", "pte", "pty", "sa", "se", "spa", "srl",
})
_PARENS = re.compile(r"\([^()]*\)")
_NON_WORD = re.compile(r"[\W_]+")
_SEPARATORS = re.compile(r"[,;]|\band\b", re.IGNORECASE)


def fix_mojibake(s: str) -> str:
    """Repair UTF-8 text that was decoded as Windows-1252 or Latin-1 ('YhtymÃ¤' -> 'Yhtymä').

    Clean text is returned unchanged: its re-encoded bytes are not valid UTF-8. Text encoded
    several times is repaired layer by layer (each layer shortens it, so this ends), and the
    result is a fixed point: ``fix_mojibake(fix_mojibake(s)) == fix_mojibake(s)``. Never raises.
    """
    while not s.isascii():
        fixed = None
        for encoding in ("cp1252", "latin-1"):
            try:
                fixed = s.encode(encoding).decode("utf-8")
            except UnicodeError:
                continue
            break
        if fixed is None or fixed == s:
            break
        s = fixed
    return s


def _clean(name: str) -> str:
    """Repaired, single-spaced, trimmed and free of control characters; a fixed point."""
    while True:
        cleaned = " ".join(fix_mojibake(name).split())
        cleaned = "".join(ch for ch in cleaned if unicodedata.category(ch) != "Cc")
        if cleaned == name:
            return cleaned
        name = cleaned


def _join_letter_runs(words: list[str]) -> list[str]:
    """['g', 'e', 'medical'] -> ['ge', 'medical']; a lone letter ('b braun') stays."""
    out: list[str] = []
    run: list[str] = []
    for w in [*words, ""]:
        if len(w) == 1:
            run.append(w)
            continue
        if run:
            out.extend(["".join(run)] if len(run) > 1 else run)
            run = []
        if w:
            out.append(w)
    return out


def _normalise(name: str) -> str:
    """Steps 1-4 of vendor_key: the spelling without case, punctuation and legal form."""
    nfkc = unicodedata.normalize("NFKC", _clean(name))
    s = unicodedata.normalize("NFKC", nfkc.casefold())  # Unicode's NFKC_Casefold, in effect
    s = _PARENS.sub(" ", s)
    words = _join_letter_runs(_NON_WORD.sub(" ", s).split())
    while words and words[-1] in _LEGAL:
        words.pop()
    return " ".join(words)


def vendor_key(name: str) -> str:
    """The comparison key of one vendor name: 'GE MEDICAL SYSTEMS' -> 'ge healthcare'."""
    return _vendor_key(name)


@lru_cache(maxsize=4096)  # called per image by inventory; a site has few distinct names
def _vendor_key(name: str) -> str:
    key = _normalise(name)
    return ALIASES.get(key, key)


def canonical_vendor(name: str) -> str:
    """The display name for a vendor name: 'SIEMENS' -> 'Siemens Healthineers'.

    A vendor without a display name keeps its own spelling, repaired, single-spaced and
    without control characters.
    """
    display = DISPLAY_NAMES.get(vendor_key(name))
    return display if display is not None else _clean(name)


def vendor_keys(name: str) -> frozenset[str]:
    """Every vendor a name refers to: one key, or several for 'X and Y' / 'X, Y' strings."""
    return _vendor_keys(name)


@lru_cache(maxsize=4096)
def _vendor_keys(name: str) -> frozenset[str]:
    whole = vendor_key(name)
    if whole in _KNOWN:
        return frozenset({whole}) if whole else frozenset()
    text = _PARENS.sub(" ", _clean(name))
    parts = {vendor_key(p) for p in _SEPARATORS.split(text)} - {""}
    if len(parts) > 1:
        return frozenset(parts)
    return frozenset({whole}) if whole else frozenset()


def vendors_match(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` name a common vendor (each vendor of a multi-vendor name)."""
    return not vendor_keys(a).isdisjoint(vendor_keys(b))
