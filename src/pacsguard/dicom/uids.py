"""The UIDs pacsguard names: transfer syntaxes (PS3.5 §10 and Annex A, PS3.6 Table A-1), the
SOP classes and application context the code uses (PS3.4, PS3.7 Annex A.2.1), pacsguard's own
Implementation Class UID (PS3.7 Annex D.3.3.2), transfer syntaxes as people read them (names
from pydicom's UID dictionary), and what a valid UID is and how its value is encoded (PS3.5
§9.1, §6.2).

Every other module imports these names instead of spelling a UID again. Light on purpose: the
walker, verify and the receiver import it, and pydicom's UID dictionary is loaded only when a
name is asked for.
"""

from __future__ import annotations

import re


def transfer_syntax_name(uid: str, with_uid: bool = True) -> str:
    """``JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91)``, or the name alone without
    ``with_uid``: a transfer syntax as a person reads it (the UID alone when pydicom does not
    know it)."""
    from pydicom.uid import UID

    name = UID(uid).name
    if not name or name == uid:
        return uid
    return f"{name} ({uid})" if with_uid else name


_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def valid_uid(text: str) -> bool:
    """A UID as PS3.5 §9.1 allows: digits and dots, at most 64 characters. (Leading zeros in
    a component are tolerated: some modalities send them, and refusing would lose images.)"""
    return 0 < len(text) <= 64 and _UID.fullmatch(text) is not None


def encode_uid(uid: str) -> bytes:
    """A UI value's bytes: padded with NUL to an even length (PS3.5 §6.2)."""
    b = uid.encode("ascii")
    return b + b"\0" if len(b) % 2 else b


#: pacsguard's own Implementation Class UID (PS3.7 Annex D.3.3.2): a UUID-derived UID
#: (PS3.5 §B.2), uuid5(URL, "https://github.com/pacsguard/pacsguard/implementation")
IMPLEMENTATION_CLASS_UID = "2.25.114664507040684506303634943128440649938"
IMPLEMENTATION_VERSION_NAME = "PACSGUARD_010"  # SH, at most 16 characters (PS3.7 D.3.3.2)

# Transfer syntaxes, PS3.6 Table A-1 (PS3.5 §10 and Annex A)
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"  # retired, still met in old archives
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"  # Process 1
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"  # Processes 2 and 4
JPEG_LOSSLESS_P14 = "1.2.840.10008.1.2.4.57"  # Non-Hierarchical, Process 14
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"  # Process 14, First-Order Prediction
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_2000 = "1.2.840.10008.1.2.4.91"  # lossless or lossy: Lossy Image Compression says
JPEG_2000_MC_LOSSLESS = "1.2.840.10008.1.2.4.92"  # Part 2 multi-component
JPEG_2000_MC = "1.2.840.10008.1.2.4.93"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"

#: the uncompressed syntaxes (PS3.5 §A.1, §A.2, §A.5; Deflated is uncompressed pixel data)
NATIVE_SYNTAXES = frozenset({IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE})

#: PS3.5 Annex A / PS3.6 Table A-1: transfer syntaxes whose pixel data is always lossy
LOSSY_SYNTAXES = frozenset({
    JPEG_BASELINE, JPEG_EXTENDED,
    "1.2.840.10008.1.2.4.52", "1.2.840.10008.1.2.4.53", "1.2.840.10008.1.2.4.54",
    "1.2.840.10008.1.2.4.55", "1.2.840.10008.1.2.4.56", "1.2.840.10008.1.2.4.59",
    "1.2.840.10008.1.2.4.60", "1.2.840.10008.1.2.4.61", "1.2.840.10008.1.2.4.62",
    "1.2.840.10008.1.2.4.63", "1.2.840.10008.1.2.4.64",  # retired JPEG lossy processes
    JPEG_LS_NEAR_LOSSLESS,
    "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102",
    "1.2.840.10008.1.2.4.103", "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105",
    "1.2.840.10008.1.2.4.106", "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.4.108",  # video
    "1.2.840.10008.1.2.4.112",  # JPEG XL (lossy)
})

#: JPEG 2000 and High-Throughput JPEG 2000 (PS3.5 §A.4.4, §A.4.5, §A.4.11)
J2K_SYNTAXES = frozenset({JPEG_2000_LOSSLESS, JPEG_2000, JPEG_2000_MC_LOSSLESS, JPEG_2000_MC,
                          HTJ2K_LOSSLESS, HTJ2K_LOSSLESS_RPCL, HTJ2K})

#: syntaxes that may be lossy or lossless: Lossy Image Compression (0028,2110) says which
MAYBE_LOSSY = frozenset({JPEG_2000, JPEG_2000_MC, HTJ2K})

#: DICOM Application Context Name, PS3.7 Annex A.2.1
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

# SOP classes the code names (PS3.4; PS3.6 Table A-1)
VERIFICATION = "1.2.840.10008.1.1"
STORAGE_COMMITMENT = "1.2.840.10008.1.20.1"
MPPS = "1.2.840.10008.3.1.2.3.3"  # Modality Performed Procedure Step
PATIENT_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.1.1"
PATIENT_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
PATIENT_ROOT_GET = "1.2.840.10008.5.1.4.1.2.1.3"
STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1"
STUDY_ROOT_MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
STUDY_ROOT_GET = "1.2.840.10008.5.1.4.1.2.2.3"
MODALITY_WORKLIST_FIND = "1.2.840.10008.5.1.4.31"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

#: the uncompressed syntaxes every storage SCP takes, proposed together in one context,
#: Explicit VR first (PS3.5 §A.1, §A.2; Implicit VR Little Endian is the default, §10.1)
UNCOMPRESSED_LE = (EXPLICIT_LE, IMPLICIT_LE)
#: the other standard syntaxes, lossless first, as the gateway's ``verify --pacs`` proposes
#: them while presentation contexts last (PS3.5 Annex A)
OTHER_STANDARD_SYNTAXES = (DEFLATED_LE, RLE_LOSSLESS, JPEG_LOSSLESS_SV1, JPEG_LS_LOSSLESS,
                           JPEG_2000_LOSSLESS, JPEG_2000, JPEG_LOSSLESS_P14, JPEG_BASELINE,
                           JPEG_LS_NEAR_LOSSLESS)
