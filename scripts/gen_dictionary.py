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
from pydicom._dicom_dict import DicomDictionary

STRING_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
              "UC", "UI", "UR", "UT"}


def block(tags: list[int]) -> str:
    text = " ".join(f"{t:08X}" for t in tags)
    return "\n".join(textwrap.wrap(text, 96))


def main() -> None:
    sq = sorted(t for t, e in DicomDictionary.items() if e[0] == "SQ")
    strings = sorted(t for t, e in DicomDictionary.items() if e[0] in STRING_VRS)
    out = Path(sys.argv[1] if len(sys.argv) > 1 else
               Path(__file__).parents[1] / "src/pacsguard/dicom/_dictionary.py")
    out.write_text(f'''"""Frozen dictionary facts (by scripts/gen_dictionary.py; do not edit).

Taken from pydicom {__version__}'s dictionary. Part of fingerprint version 1: see
docs/fingerprint.md before changing.
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
''')
    print(f"{out}: {len(sq)} sequence tags, {len(strings)} string tags")


if __name__ == "__main__":
    main()
