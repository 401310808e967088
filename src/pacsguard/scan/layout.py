"""How the scanner reads bytes: sizes, byte patterns and header layouts that both walks use
(:mod:`.full` and :mod:`.quick`).

DICOM's own names (tags, transfer syntaxes, VRs) come from :mod:`pacsguard.dicom`; what is here
is the scanner's reading of them: where the preamble ends (PS3.10 §7.1), how element headers
unpack (PS3.5 §7.1.2, §7.1.3, §7.5), and how much of a value it reads at most.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from pacsguard.dicom.tags import ITEM, TRANSFER_SYNTAX_UID

MAX_META_VALUE = 1 << 16  # a File Meta element longer than this is absurd
TS_ELEMENT = TRANSFER_SYNTAX_UID & 0xFFFF  # (0002,0010): its element number in group 0002

# Binary VRs whose values are checked for signatures (private values are checked whatever VR).
INSPECT_VRS = frozenset({b"OB", b"OW", b"UN"})
PREAMBLE = 128
ZERO_PREAMBLE = bytes(PREAMBLE)
HEAD = 4096  # bytes of a value read for its signature
ITEM_START = struct.pack("<HH", ITEM >> 16, ITEM & 0xFFFF)  # (FFFE,E000), little endian
ZIP_TAIL = 22 + 0xFFFF  # an end-of-central-directory record and the longest comment

expl_le = struct.Struct("<HH2sH").unpack_from  # group, element, VR, 16-bit length
expl_be = struct.Struct(">HH2sH").unpack_from
impl_le = struct.Struct("<HHI").unpack_from  # group, element, 32-bit length (items too)
item_be = struct.Struct(">HHI").unpack_from
u32_le = struct.Struct("<I").unpack_from
u16_le = struct.Struct("<H").unpack_from
u16_be = struct.Struct(">H").unpack_from
u32_be = struct.Struct(">I").unpack_from
Unpack = Callable[[bytes, int], tuple[Any, ...]]


def tag_text(tag: int) -> str:
    """``(0009,1010)``: a tag as evidence names it."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
