"""The PS3.10 file around a data set received over the network: preamble, ``DICM`` and the File
Meta Information group (PS3.10 §7.1), written in front of the data set's bytes as they arrived,
and read back to find where the data set starts and what the File Meta says.

The gateway writes every instance it receives this way (the data set unchanged after the File
Meta) and its forwarder reads the File Meta back to send the data set on.
"""

from __future__ import annotations

import io
import struct

from pacsguard.dicom.uids import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, encode_uid
from pacsguard.errors import AssociationError


def _explicit(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if vr == b"OB":
        return struct.pack("<HH2s2xL", group, element, vr, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _text(value: str) -> bytes:
    b = value.encode("ascii", "replace")
    return b + b" " if len(b) % 2 else b


def file_meta(sop_class: str, sop_instance: str, transfer_syntax: str,
              source_ae: str) -> bytes:
    """Preamble, ``DICM`` and File Meta Information (PS3.10 §7.1) for a data set received over
    the network, in Explicit VR Little Endian. The data set's bytes follow unchanged."""
    elements = (_explicit(2, 0x0001, b"OB", b"\0\1")
                + _explicit(2, 0x0002, b"UI", encode_uid(sop_class))
                + _explicit(2, 0x0003, b"UI", encode_uid(sop_instance))
                + _explicit(2, 0x0010, b"UI", encode_uid(transfer_syntax))
                + _explicit(2, 0x0012, b"UI", encode_uid(IMPLEMENTATION_CLASS_UID))
                + _explicit(2, 0x0013, b"SH", _text(IMPLEMENTATION_VERSION_NAME))
                + (_explicit(2, 0x0016, b"AE", _text(source_ae)) if source_ae else b""))
    return (b"\0" * 128 + b"DICM" + _explicit(2, 0x0000, b"UL", struct.pack("<L", len(elements)))
            + elements)


def data_set_offset(encoded_file: bytes | memoryview) -> int:
    """Where the data set starts in a PS3.10 file: after preamble, ``DICM`` and the File Meta
    group, whose group length (0002,0000) is the first element (PS3.10 §7.1).

    Raises :class:`~pacsguard.errors.AssociationError` (not a file error) because the
    forwarder calls it while it sends, and treats it as a failure of that C-STORE."""
    b = memoryview(encoded_file)
    if len(b) < 144 or bytes(b[128:132]) != b"DICM" or bytes(b[132:136]) != b"\2\0\0\0" \
            or bytes(b[136:138]) != b"UL":
        raise AssociationError("not a DICOM file with a File Meta group length")
    (group_length,) = struct.unpack_from("<L", b, 140)
    end = 144 + int(group_length)
    if end > len(b):
        raise AssociationError("File Meta group length points past the end of the file")
    return end


def read_meta(encoded_file: bytes) -> dict[int, str]:
    """(0002,xxxx) UI/AE/SH values of a file written with :func:`file_meta` or any PS3.10 file
    (Explicit VR Little Endian, PS3.10 §7.1)."""
    out: dict[int, str] = {}
    end = data_set_offset(encoded_file)
    f = io.BytesIO(encoded_file[132:end])
    while True:
        head = f.read(8)
        if len(head) < 8:
            return out
        group, element, vr = struct.unpack("<HH2s", head[:6])
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN"):
            (length,) = struct.unpack("<L", f.read(4))
        else:
            (length,) = struct.unpack("<H", head[6:8])
        value = f.read(length)
        if group == 2 and vr in (b"UI", b"AE", b"SH", b"CS"):
            out[element] = value.rstrip(b"\0 ").decode("ascii", "replace")
