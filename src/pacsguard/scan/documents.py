"""Active content in encapsulated documents: PDF (PS3.3 A.45.1) and CDA/XML (PS3.3 A.45.2).

A PDF is searched whole, because JavaScript can sit anywhere: in the body, in names written
with ``#xx`` escapes (``/J#61vaScript``, ISO 32000-1 §7.3.5), and in compressed object streams
(§7.5.7), which are inflated here within a budget. XML is searched case-insensitively for
script, active objects and entity declarations, after decoding UTF-16 when it has a BOM.

The functions return which markers were seen and how often; the scanner turns them into
findings. Nothing here returns document text.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass

# PDF name tokens (ISO 32000-1 §7.3.5): delimiters end a name.
# longest first, so that /EmbeddedFiles is not read as /EmbeddedFile
_PDF_KEYWORDS = (b"EmbeddedFiles", b"EmbeddedFile", b"JavaScript", b"OpenAction", b"SubmitForm",
                 b"ImportData", b"RichMedia", b"Launch", b"XFA", b"JS", b"AA")
_DELIM = rb"(?=[\s/<>\[\]()%{}]|$)"
_PDF_NAME = re.compile(rb"/(" + b"|".join(_PDF_KEYWORDS)
                       + rb")" + _DELIM)
_ESCAPED_NAME = re.compile(rb"/[^\s/<>\[\]()%{}]*#[0-9A-Fa-f]{2}[^\s/<>\[\]()%{}]*")
_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"stream\r?\n")
MAX_STREAMS = 4096
MAX_INFLATED = 64 << 20  # bytes inflated from one PDF's streams at most


@dataclass(frozen=True)
class PdfMarkers:
    counts: dict[str, int]  # keyword (without '/') -> occurrences
    compressed: frozenset[str]  # keywords seen only inside compressed streams
    inflate_budget_hit: bool

    def has(self, *keywords: str) -> bool:
        return any(self.counts.get(k, 0) for k in keywords)

    def describe(self, *keywords: str) -> str:
        parts = []
        for k in keywords:
            n = self.counts.get(k, 0)
            if n:
                where = " (in compressed streams)" if k in self.compressed else ""
                parts.append(f"/{k} x{n}{where}")
        return ", ".join(parts)


def _names(data: bytes, into: Counter[str]) -> None:
    for m in _PDF_NAME.finditer(data):
        into[m.group(1).decode("ascii")] += 1
    if b"#" in data:
        for m in _ESCAPED_NAME.finditer(data):
            decoded = _HEX.sub(lambda h: bytes([int(h.group(1), 16)]), m.group(0))
            hit = _PDF_NAME.fullmatch(decoded)
            if hit is not None:
                into[hit.group(1).decode("ascii")] += 1


def pdf_markers(data: bytes) -> PdfMarkers:
    """Count active-content names in a PDF, including inside FlateDecode streams."""
    plain: Counter[str] = Counter()
    _names(data, plain)
    packed: Counter[str] = Counter()
    budget = MAX_INFLATED
    hit_budget = False
    streams = 0
    last_stop = 0
    for m in _STREAM.finditer(data):
        start = m.end()
        if start < last_stop:
            continue  # the word inside a stream's data: not a stream (keeps the work linear)
        streams += 1
        if streams > MAX_STREAMS or budget <= 0:
            hit_budget = True
            break
        stop = data.find(b"endstream", start)
        if stop < 0:
            stop = len(data)
        last_stop = stop
        # the stream's dictionary precedes the keyword; only Flate streams are inflated
        if b"/Fl" not in data[max(0, m.start() - 512) : m.start()]:  # /FlateDecode, /Fl
            continue
        try:
            out = zlib.decompressobj().decompress(data[start:stop], budget)
        except zlib.error:
            continue
        budget -= len(out)
        _names(out, packed)
    counts = plain + packed
    return PdfMarkers(dict(counts), frozenset(k for k in packed if k not in plain),
                      hit_budget)


_XML_SCRIPT = re.compile(rb"<(?:[a-z0-9_.-]+:)?script\b|javascript:|vbscript:")
_XML_OBJECT = re.compile(rb"<(?:[a-z0-9_.-]+:)?(object|embed|iframe|applet)\b")
_XML_ENTITY = re.compile(rb"<!entity\b")


@dataclass(frozen=True)
class XmlMarkers:
    script: int
    objects: dict[str, int]
    entities: int


def _utf8(data: bytes) -> bytes:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace").encode("utf-8", "replace")
    return data


def xml_markers(data: bytes) -> XmlMarkers:
    text = _utf8(data).lower()
    objects: Counter[str] = Counter(m.group(1).decode("ascii")
                                    for m in _XML_OBJECT.finditer(text))
    return XmlMarkers(len(_XML_SCRIPT.findall(text)), dict(objects),
                      len(_XML_ENTITY.findall(text)))


def looks_like_pdf(head: bytes) -> bool:
    return b"%PDF-" in head[:1024]


def looks_like_xml(head: bytes) -> bool:
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
