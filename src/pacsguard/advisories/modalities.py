"""Product names that name a kind of machine, not a model: "MRI 1.5T", "PET/CT Systems".

Some advisories name their products by modality and a qualifier (ICSMA-21-313-01: Philips
"MRI 1.5T" and "MRI 3T", version 5.x.x). No model name is written, so word matching against a
machine's model finds nothing; the advisory would say nothing to a Philips MR scanner. Such a
name is a *modality family*: it reaches that vendor's machines whose images carry the
modality, and never more than ``needs review`` (a family, not a model; docs/advisories.md).

A product name is a family when, after the vendor's own name and a platform ("Windows
7-Based") are set aside, **every** word is a modality phrase below or a qualifier (a field
strength such as "1.5T" or "3 Tesla", or a word such as "systems", "scanners", "family").
One other word ("Accent MRI", a pacemaker; "Optima MR360", where "MR360" is one word; "Gemini
PET/CT Family") and it is not: a name that carries a model is left to word matching.
Phrases are matched as whole words of the case-folded name, so "CT" inside "compactPlus" or
"CT660" is never a modality.

The modality codes are DICOM's Modality (0008,0060) defined terms, PS3.3 C.7.3.1.1.1. The
two-letter codes are taken only where product names do not use the letters for something
else: RF (radio frequency), ES, IO and OP are common in device names and are not read as
modalities; their long names (fluoroscopy, endoscopy, ...) are.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

#: Every X-ray projection modality, for a name that says only "X-ray" (PS3.3 C.7.3.1.1.1:
#: CR computed radiography, DX digital radiography, DR its retired code, RF fluoroscopy,
#: XA angiography, MG mammography, IO intra-oral, PX panoramic, RG radiographic imaging).
_XRAY = frozenset({"CR", "DX", "DR", "RF", "XA", "MG", "IO", "PX", "RG"})

#: (phrase, modality codes, how the reason names it); the longer phrases first, so "PET/CT"
#: is one phrase and not "PET" and "CT". A hybrid scanner's family is the modality only the
#: hybrid has: a PET/CT writes PT images (and CT), a plain CT never writes PT.
_PHRASES: tuple[tuple[str, frozenset[str], str], ...] = (
    (r"pet\s*[/-]?\s*(?:ct|computed tomography)", frozenset({"PT"}), "PET/CT"),
    (r"pet\s*[/-]?\s*mri?", frozenset({"PT"}), "PET/MR"),
    (r"spect\s*[/-]?\s*ct", frozenset({"NM"}), "SPECT/CT"),
    (r"positron emission tomography|pet", frozenset({"PT"}), "PET"),
    (r"single photon emission (?:computed )?tomography|spect|nuclear medicine|gamma cameras?"
     r"|nm", frozenset({"NM"}), "nuclear medicine"),
    (r"magnetic resonance(?: imaging| tomography)?|mri|mrt|mr", frozenset({"MR"}), "MR"),
    (r"computed tomography|ct", frozenset({"CT"}), "CT"),
    (r"(?:digital )?mammography|mammo|mg", frozenset({"MG"}), "mammography"),
    (r"digital radiography|dr|dx", frozenset({"DX", "DR"}), "digital radiography"),
    (r"computed radiography|cr", frozenset({"CR"}), "computed radiography"),
    (r"(?:radio)?fluoroscopy", frozenset({"RF"}), "fluoroscopy"),
    (r"(?:x[- ]?ray )?angiography", frozenset({"XA"}), "angiography"),
    (r"x[- ]?rays?|radiography|radiographic", _XRAY, "X-ray"),
    (r"ultrasound|ultrasonography|sonography|echocardiography|us",
     frozenset({"US", "IVUS"}), "ultrasound"),
    (r"bone densitometry|dxa|dexa", frozenset({"BMD"}), "bone densitometry"),
    (r"optical coherence tomography", frozenset({"OCT", "OPT", "IVOCT"}),
     "optical coherence tomography"),
    (r"endoscopy", frozenset({"ES"}), "endoscopy"),
)
_EDGE_L, _EDGE_R = r"(?<![0-9a-z])", r"(?![0-9a-z])"
_PHRASE_RE = tuple((re.compile(f"{_EDGE_L}(?:{p}){_EDGE_R}"), codes, label)
                   for p, codes, label in _PHRASES)
#: A magnet's field strength: "1.5T", "3T", "3.0 T", "7 Tesla"
_FIELD = re.compile(rf"{_EDGE_L}(\d+(?:\.\d+)?)\s*(?:t|tesla){_EDGE_R}")
#: An operating system the name limits itself to ("Windows 7-Based", "Windows XP")
_PLATFORM = re.compile(
    rf"{_EDGE_L}(?:(?:windows|win)(?:\s*(?:xp|vista|nt|2000|7|8(?:\.1)?|10|11"
    rf"|server(?:\s*20\d\d)?(?:\s*r2)?))?|linux|unix)(?:\s*-?\s*based)?{_EDGE_R}")
_EXCLUSION = re.compile(r"\b(?:not including|except|excluding|other than)\b")
_WORD = re.compile(r"[0-9a-z]+")
#: Words that may stand beside a modality in a family name without naming a model. Not the
#: filler words of word matching (match.py): "with" is filler there ("SpaceStation with
#: SpaceCom"), but "MRI with Ingenia" names a model.
QUALIFIERS = frozenset({
    "the", "and", "or", "of", "for", "all", "systems", "system", "scanner", "scanners",
    "family", "families", "product", "products", "series", "device", "devices", "model",
    "models", "imaging", "equipment", "unit", "units", "machine", "machines", "modality",
    "modalities", "software", "digital", "mobile", "portable", "diagnostic", "medical",
    "healthcare",
})


@dataclass(frozen=True)
class Family:
    """What a family product name says: the modalities and the qualifiers it gives."""

    codes: frozenset[str]  # DICOM Modality codes; a machine with any of them is one
    names: tuple[str, ...]  # the modalities in words, as the reasons say them
    field_strengths: tuple[str, ...] = ()  # "1.5T"
    platform: bool = False  # the name limits itself to an operating system

    def describe(self) -> str:
        """'MR', 'PET/CT', 'X-ray': the kind of machine, in words."""
        return " or ".join(self.names)


def folded(text: str) -> str:
    """Text as names and versions are compared: NFKC, case-folded, single spaces, trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


@lru_cache(maxsize=8192)
def modality_family(product: str, vendor_words: frozenset[str] = frozenset()) -> Family | None:
    """The family a product name names, or None when it names anything besides modalities
    and qualifiers (module docstring). ``vendor_words``: the vendor's own name, case-folded,
    which a name may repeat ("Siemens PET/CT Systems")."""
    text = folded(product)
    if _EXCLUSION.search(text):
        return None
    for w in vendor_words:  # first, so a vendor called "DR Systems" names no modality
        text = re.sub(f"{_EDGE_L}{re.escape(w)}{_EDGE_R}", " ", text)
    platform = _PLATFORM.search(text) is not None
    text = _PLATFORM.sub(" ", text)
    codes: set[str] = set()
    names: list[str] = []
    for rx, c, label in _PHRASE_RE:
        if rx.search(text):
            codes |= c
            names.append(label)
            text = rx.sub(" ", text)
    if not codes:
        return None
    strengths = tuple(f"{m.group(1)}T" for m in _FIELD.finditer(text))
    text = _FIELD.sub(" ", text)
    if any(w not in QUALIFIERS for w in _WORD.findall(text)):
        return None
    return Family(frozenset(codes), tuple(names), strengths, platform)
