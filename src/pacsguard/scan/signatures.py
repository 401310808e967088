"""File signatures ("magic numbers") of executables, scripts, archives and active documents.

Used on the 128-byte preamble (PS3.10 §7.1; CVE-2019-11687: the preamble may make a DICOM file
a valid Windows executable), on the first bytes of OB, UN and private values, on the first
bytes of pixel data fragments (PS3.5 §A.4), and on bytes after the data set.

A signature seen in a value is only reported when its header is *confirmed*: a DOS ``MZ`` stub
only when ``e_lfanew`` leads to a ``PE\\0\\0`` header, ELF only with a valid class, byte order
and version, and so on. Two-byte magics would otherwise match binary data by chance (one value
in 65,536). Evidence names the format, never bytes that could be patient data.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from enum import Enum

_u16 = struct.Struct("<H").unpack_from
_u32 = struct.Struct("<I").unpack_from
_u32_be = struct.Struct(">I").unpack_from


class Family(Enum):
    """What a signature is; picks the finding id (``PREAMBLE-<name>``, ``HIDDEN-...``)."""

    PE = "PE"
    ELF = "ELF"
    MACHO = "MACHO"
    JAVA = "JAVA"
    SCRIPT = "SCRIPT"
    ZIP = "ZIP"
    ARCHIVE = "ARCHIVE"
    PDF = "PDF"
    HTML = "HTML"

    @property
    def executable(self) -> bool:
        return self in _EXECUTABLE


_EXECUTABLE = frozenset({Family.PE, Family.ELF, Family.MACHO, Family.JAVA, Family.SCRIPT})


@dataclass(frozen=True)
class Signature:
    family: Family
    name: str  # "PE executable", "ZIP archive"
    detail: str = ""  # "e_lfanew 0x40 leads to a PE header at byte 64"
    confirmed: bool = True  # the header beyond the magic is well formed
    pe_offset: int | None = None  # absolute offset of the PE header, when one was found
    executable_inside: bool = False  # an archive whose entries are executables

    def describe(self) -> str:
        return f"{self.name} ({self.detail})" if self.detail else self.name


# PE/COFF machine types (Microsoft PE format, "Machine Types")
_PE_MACHINES = {0x014C: "x86", 0x8664: "x64", 0xAA64: "ARM64", 0x01C0: "ARM", 0x01C4: "ARMv7",
                0x0200: "IA-64", 0x5064: "RISC-V"}
_MACHO = {b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe"}
_ARCHIVES: tuple[tuple[bytes, str], ...] = (
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"MSCF\0\0\0\0", "Microsoft Cabinet archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE compound file (Office document, MSI installer)"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"\x1f\x8b\x08", "gzip data"),
)
# Extensions of entries that run when opened or double-clicked.
_RUNNABLE = frozenset({
    "exe", "dll", "scr", "com", "bat", "cmd", "ps1", "vbs", "vbe", "js", "jse", "wsf", "hta",
    "msi", "lnk", "jar", "class", "sh", "elf", "so", "dylib", "app", "py", "pl", "apk",
})
_HTML_START = (b"<html", b"<!doctype html", b"<script", b"<svg", b"<iframe", b"<body",
               b"<head", b"<?php", b"<object", b"<embed")
# Markers that make a browser or PDF reader take bytes anywhere in a small region as markup/PDF.
_ACTIVE_ANYWHERE = re.compile(rb"<script|<html|<svg|<iframe|<\?php|javascript:|vbscript:",
                              re.IGNORECASE)
_WS = b" \t\r\n\x0c"
# First two bytes of every signature a value may start with: a cheap set lookup lets the
# scanner skip the full check for nearly every value.
PREFIXES = frozenset({b"MZ", b"PE", b"\x7fE", b"\xfe\xed", b"\xce\xfa", b"\xcf\xfa",
                      b"\xca\xfe", b"#!", b"PK", b"%P"} | {m[:2] for m, _ in _ARCHIVES})
LEADS = frozenset(b"<\xef\xff\xfe" + _WS)  # first byte of markup (after BOM/whitespace)
# Four-byte magics strong enough to look for in fragments of compressed pixel data.
STRONG4 = frozenset({b"MZ\x90\x00", b"\x7fELF", b"PK\x03\x04", b"%PDF", b"Rar!", b"7z\xbc\xaf",
                     b"MSCF", b"\xd0\xcf\x11\xe0", b"\xca\xfe\xba\xbe"} | _MACHO)


def pe_header(buf: bytes, base: int, end: int) -> int | None:
    """If an MZ stub at ``buf[base]`` has ``e_lfanew`` leading to ``PE\\0\\0`` before ``end``
    (offsets into ``buf``), the PE header's offset in ``buf``; else None."""
    if base + 0x40 > len(buf):
        return None
    lfanew: int = _u32(buf, base + 0x3C)[0]
    at = base + lfanew
    if lfanew < 4 or at + 24 > min(end, len(buf)):
        return None
    if buf[at : at + 4] != b"PE\0\0":
        return None
    return at


def _pe_at(buf: bytes, at: int) -> str:
    machine = _u16(buf, at + 4)[0]
    return _PE_MACHINES.get(machine, f"machine 0x{machine:04X}")


def _zip_entry_runnable(head: bytes) -> str:
    """The extension of a ZIP local file header's entry name, if it is runnable; else ''."""
    if len(head) < 30:
        return ""
    name_len = _u16(head, 26)[0]
    name = head[30 : 30 + name_len]
    if name == b"META-INF/MANIFEST.MF" or name.startswith(b"META-INF/"):
        return "jar"
    ext = name.rsplit(b".", 1)[-1].lower().decode("ascii", "replace") if b"." in name else ""
    return ext if ext in _RUNNABLE else ""


def zip_names_runnable(names: list[bytes]) -> str:
    """The first runnable extension among ZIP entry names ('jar' for a JAR manifest)."""
    for name in names:
        if name.startswith(b"META-INF/"):
            return "jar"
        if b"." in name:
            ext = name.rsplit(b".", 1)[-1].lower().decode("ascii", "replace")
            if ext in _RUNNABLE:
                return ext
    return ""


def _script(head: bytes) -> Signature | None:
    line = head[2:].split(b"\n", 1)[0].strip()
    if not line.startswith(b"/") or len(line) > 200:
        return None
    if any(c < 0x20 or c > 0x7E for c in line):
        return None
    interpreter = line.split(b" ", 1)[0].rsplit(b"/", 1)[-1][:24].decode("ascii")
    return Signature(Family.SCRIPT, "script", f"interpreter {interpreter}")


def _gunzip_peek(head: bytes) -> bytes:
    """The first few kilobytes inside gzip data (for an executable compressed inside)."""
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return d.decompress(head, 4096)
    except zlib.error:
        return b""


def sniff(buf: bytes, base: int = 0, end: int | None = None) -> Signature | None:
    """The signature at ``buf[base]``, for a value (or region) ending at ``end``.

    ``buf`` holds at least the value's first bytes (the scanner passes up to 4 KiB, or the
    whole file for the preamble, so that ``e_lfanew`` can point anywhere in the file).
    """
    end = len(buf) if end is None else min(end, len(buf))
    head = buf[base : min(end, base + 512)]
    if len(head) < 4:
        return None
    two = head[:2]
    if two == b"MZ":
        at = pe_header(buf, base, end)
        if at is not None:
            return Signature(Family.PE, "PE executable",
                             f"e_lfanew 0x{at - base:X} leads to a PE header, {_pe_at(buf, at)}",
                             pe_offset=at)
        return Signature(Family.PE, "DOS/PE executable stub", "MZ header, no PE header found",
                         confirmed=False)
    if head[:4] == b"PE\0\0" and len(head) >= 24 and _u16(head, 4)[0] in _PE_MACHINES:
        return Signature(Family.PE, "PE header", _pe_at(head, 0), pe_offset=base)
    if head[:4] == b"\x7fELF":
        ok = len(head) >= 7 and head[4] in (1, 2) and head[5] in (1, 2) and head[6] == 1
        return Signature(Family.ELF, "ELF executable",
                         ("64-bit" if head[4] == 2 else "32-bit") if ok else "bad ELF header",
                         confirmed=ok)
    if head[:4] in _MACHO:
        return Signature(Family.MACHO, "Mach-O executable")
    if head[:4] == b"\xca\xfe\xba\xbe" and len(head) >= 8:
        # the same magic: Mach-O universal binary (few architectures) or Java class (version)
        if _u32_be(head, 4)[0] < 0x20:
            return Signature(Family.MACHO, "Mach-O universal executable")
        return Signature(Family.JAVA, "Java class file")
    if two == b"#!":
        return _script(head)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        ext = _zip_entry_runnable(head) if head[:4] == b"PK\x03\x04" else ""
        return Signature(Family.ZIP, "JAR archive" if ext == "jar" else "ZIP archive",
                         f"its first entry is runnable (.{ext})" if ext else "",
                         executable_inside=bool(ext))
    for magic, name in _ARCHIVES:
        if head.startswith(magic):
            if magic == b"\x1f\x8b\x08":
                inner = sniff(_gunzip_peek(buf[base : min(end, base + 4096)]))
                if inner is not None and inner.confirmed and inner.family.executable:
                    return Signature(Family.ARCHIVE, name,
                                     f"it decompresses to a {inner.name}",
                                     executable_inside=True)
                return None  # gzip alone is compression (vendors use it for private data)
            return Signature(Family.ARCHIVE, name)
    if head[:5] == b"%PDF-":
        return Signature(Family.PDF, "PDF document")
    if head[0] in LEADS:
        lowered = head.lstrip(b"\xef\xbb\xbf" + _WS).lower()
        if lowered.startswith(_HTML_START):
            return Signature(Family.HTML, "HTML/script markup")
    return None


def sniff_strong(buf: bytes, base: int, end: int) -> Signature | None:
    """Only signatures unlikely to appear by chance in compressed data (pixel fragments)."""
    sig = sniff(buf, base, end)
    if sig is None or not sig.confirmed or sig.family in (Family.SCRIPT, Family.HTML):
        return None
    if sig.family is Family.ARCHIVE and sig.name == "gzip data":
        return None
    return sig


def sniff_region(region: bytes) -> Signature | None:
    """A signature at the start of ``region`` or, for PDF and markup, anywhere in it (PDF
    readers accept a header in the first 1,024 bytes; browsers sniff markup anywhere)."""
    sig = sniff(region)
    if sig is not None:
        return sig
    if b"%PDF-" in region[:1024]:
        return Signature(Family.PDF, "PDF document", "header not at the start")
    if _ACTIVE_ANYWHERE.search(region[:4096]):
        return Signature(Family.HTML, "HTML/script markup", "not at the start")
    return None


@dataclass(frozen=True)
class ZipEnd:
    """A ZIP end-of-central-directory record that makes the whole file open as an archive."""

    offset: int
    entries: int
    runnable: str  # extension of a runnable entry, or ''


def zip_end(tail: bytes, tail_offset: int, file_size: int) -> ZipEnd | None:
    """Find an end-of-central-directory record (APPNOTE 4.3.16) in the file's last bytes.

    ZIP tools read an archive from its end: they search the last 64 KiB for this record
    (Python's zipfile takes the last one found, whatever its comment length says), then the
    central directory it points to. So a DICOM file whose last element hides such a record
    opens as a ZIP (or JAR) archive. A record counts when the central directory it describes
    is where it says: ``PK\x01\x02`` right before the record (an empty archive has none),
    eight bytes that random data matches once in 2**64.
    """
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0:
        if at + 22 <= len(tail):
            entries = _u16(tail, at + 10)[0]
            cd_size = _u32(tail, at + 12)[0]
            # the central directory ends where the end record starts; its offset field counts
            # from the archive's start, which in a polyglot is not the file's (zipfile and
            # unzip correct for that the same way)
            cd_start = at - cd_size
            absolute = tail_offset + at
            if cd_size <= absolute and (
                (entries == 0 and cd_size == 0 and tail[at + 4 : at + 20] == bytes(16))
                or (cd_start >= 0 and tail[cd_start : cd_start + 4] == b"PK\x01\x02")
                or (cd_start < 0 and entries > 0)  # directory longer than the tail we hold
            ):
                names = _central_names(tail, cd_start, at) if cd_start >= 0 else []
                return ZipEnd(absolute, entries, zip_names_runnable(names))
        at = tail.rfind(b"PK\x05\x06", 0, at)
    return None


def _central_names(tail: bytes, pos: int, stop: int) -> list[bytes]:
    """Entry names from the central directory at ``tail[pos:stop]`` (at most 1,000)."""
    names: list[bytes] = []
    while pos + 46 <= stop and len(names) < 1000:
        if tail[pos : pos + 4] != b"PK\x01\x02":
            break
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", tail, pos + 28)
        names.append(tail[pos + 46 : pos + 46 + name_len])
        pos += 46 + name_len + extra_len + comment_len
    return names
