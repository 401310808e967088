"""Write src/pacsguard/dicom/_dictionary.py: the data-dictionary facts the fingerprint uses.

The header digest depends on which public tags are sequences and which hold strings (their
trailing padding is stripped). Those facts are frozen in the package, taken once from pydicom's
dictionary, so that a pydicom upgrade cannot change the digest of an instance already recorded,
and so that the command line starts without importing pydicom (about 0.4 s here).

Never regenerate in place for an existing fingerprint version: a new snapshot changes digests
and needs a new header profile version (docs/fingerprint.md).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from pydicom import __version__
from pydicom._dicom_dict import DicomDictionary, RepeatersDictionary

STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
              "UC", "UI", "UR", "UT"}


def block(tags: list[int]) -> str:
    text = " ".join(f"{t:08X}" for t in tags)
    return "\n".join(textwrap.wrap(text, 96))


def vr_table() -> dict[str, list[int]]:
    """Public tags by dictionary VR ("US or SS" written "US|SS"); repeating groups 50xx, 60xx
    and 7Fxx under their base group (the walker masks the group's low byte to look them up)."""
    by_vr: dict[str, list[int]] = {}
    for tag, e in DicomDictionary.items():
        if e[0] not in ("NONE", ""):
            by_vr.setdefault(e[0].replace(" or ", "|"), []).append(tag)
    for mask, e in RepeatersDictionary.items():
        if mask[:2] in ("50", "60", "7F") and mask[2:4] == "xx" and "x" not in mask[4:]:
            by_vr.setdefault(e[0].replace(" or ", "|"), []).append(int(mask[:2] + "00" + mask[4:],
                                                                      16))
    return {vr: sorted(set(tags)) for vr, tags in sorted(by_vr.items())}


def main() -> None:
    sq = sorted(t for t, e in DicomDictionary.items() if e[0] == "SQ")
    strings = sorted(t for t, e in DicomDictionary.items() if e[0] in STRING_VRS)
    vrs = "\n".join(f"={vr}\n{block(tags)}" for vr, tags in vr_table().items())
    out = Path(sys.argv[1] if len(sys.argv) > 1 else
               Path(__file__).parents[1] / "src/pacsguard/dicom/_dictionary.py")
    out.write_text(f'''"""Frozen dictionary facts (by scripts/gen_dictionary.py; do not edit).

Taken from pydicom {__version__}'s dictionary. SQ_TAGS and STRING_TAGS are part of fingerprint
version 1, DICTIONARY_VR of version 2: see docs/fingerprint.md before changing.
"""

_SQ = """
{block(sq)}
"""

_STRINGS = """
{block(strings)}
"""

#: public tags whose VR is SQ
SQ_TAGS = frozenset(int(t, 16) for t in _SQ.split())
#: public tags whose VR is a string VR (AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT)
STRING_TAGS = frozenset(int(t, 16) for t in _STRINGS.split())

# Fingerprint version 2 (docs/fingerprint.md, "Value representations"): each public tag's
# dictionary VR, one block per VR ("=US|SS" heads the "US or SS" block); repeating groups
# (50xx, 60xx, 7Fxx) under their base group.
_VRS = """
{vrs}
"""


def _vr_blocks() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {{}}
    current: list[int] = []
    for word in _VRS.split():
        if word[0] == "=":
            current = out.setdefault(word[1:], [])
        else:
            current.append(int(word, 16))
    return out


#: public tag -> its dictionary VR(s), e.g. 0x00280106 -> ("US", "SS")
DICTIONARY_VR = {{tag: tuple(vr.split("|")) for vr, tags in _vr_blocks().items() for tag in tags}}
''')
    print(f"{out}: {len(sq)} sequence tags, {len(strings)} string tags")


if __name__ == "__main__":
    main()
