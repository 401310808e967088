"""Value representations by how Explicit VR encodes their length (PS3.5 §7.1.2).

Every other module imports these sets instead of spelling the VRs again. No pydicom import.
"""

from __future__ import annotations

# PS3.5 §7.1.2 Table 7.1-1: VRs whose explicit encoding has 2 reserved bytes and a 32-bit length
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR",
                      b"UT", b"SV", b"UV"})
# PS3.5 §7.1.2 Table 7.1-2: VRs whose explicit encoding has a 16-bit length
SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS",
                       b"LO", b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL",
                       b"US"})
