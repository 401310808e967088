"""Transfer syntaxes as people read them (PS3.6 Annex A names, from pydicom's UID dictionary).

Light on purpose: verify imports it, and pydicom's UID dictionary is loaded only when a name is
asked for.
"""

from __future__ import annotations


def transfer_syntax_name(uid: str, with_uid: bool = True) -> str:
    """``JPEG 2000 Image Compression (1.2.840.10008.1.2.4.91)``, or the name alone without
    ``with_uid``: a transfer syntax as a person reads it (the UID alone when pydicom does not
    know it)."""
    from pydicom.uid import UID

    name = UID(uid).name
    if not name or name == uid:
        return uid
    return f"{name} ({uid})" if with_uid else name
