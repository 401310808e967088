"""What a file's bytes carry: the checks the full walk (:mod:`.full`) calls where it meets
bytes that may hold a payload, and the scan state they report into.

- the 128-byte preamble (PS3.10 §7.1; CVE-2019-11687: a DICOM file that is also a Windows
  executable), and input that is not DICOM at all;
- OB, OW, UN and private values (PS3.5 §6.2) and pixel data fragments (§A.4): a confirmed
  signature at their start (:mod:`.signatures`);
- encapsulated documents (PS3.3 A.45): active content in a PDF or CDA/XML (:mod:`.documents`);
- bytes after the data set, and a ZIP end record in the file's tail (polyglots).

Each check adds findings (:mod:`.rules`) and what ``disarm`` removes (:class:`Removal`);
none reads more than :class:`Limits` allows, and evidence names offsets, tags and formats,
never the bytes themselves.
"""

from __future__ import annotations

from pacsguard.errors import ShortRead
from pacsguard.findings import Finding, Severity
from pacsguard.scan import documents
from pacsguard.scan.layout import HEAD, PREAMBLE, ZERO_PREAMBLE, ZIP_TAIL, tag_text, u32_le
from pacsguard.scan.model import Limits, Removal, ScanResult
from pacsguard.scan.rules import RuleId, finding
from pacsguard.scan.signatures import Family, Signature, sniff, sniff_region, zip_end
from pacsguard.scan.source import Source

# PS3.10 §7.1: the preamble is there for application profiles, "to facilitate access to the
# images ... by providing compatibility with ... commonly used computer image file formats";
# DICOM-TIFF dual-personality files (e.g. whole-slide imaging) put a TIFF header there.
TIFF_HEADERS = (b"II*\0", b"MM\0*")


class PayloadScan:
    """One input's scan: its state and findings, and the checks of bytes that may carry a
    payload. :class:`pacsguard.scan.full.FullScan` adds the walk; the mutable state lives
    here, in slots, so the walk's hot loop uses attributes."""

    __slots__ = ("body", "dataset_offset", "findings", "frames", "inflated", "limits", "name",
                 "pe_target", "removals", "src", "trailing_start", "transfer_syntax")

    def __init__(self, src: Source, name: str, limits: Limits) -> None:
        self.src = src
        self.name = name
        self.limits = limits
        self.findings: list[Finding] = []
        self.removals: list[Removal] = []
        self.inflated = False  # walking the inflated data set of a Deflated file
        self.frames = 0  # Number of Frames, once looked up (0: not yet)
        self.body = 0  # where the data set being walked starts (in its source)
        self.pe_target = -1  # where the preamble's e_lfanew leads, when that is a PE header
        self.trailing_start: int | None = None  # raw offset of bytes after the data set
        self.transfer_syntax = ""
        self.dataset_offset = 0

    # -- reporting ---------------------------------------------------------------------------
    def add(self, rule_id: RuleId, evidence: str, severity: Severity | None = None,
            remove: tuple[int, int, str] | None = None, truncate: bool = False) -> None:
        self.findings.append(finding(rule_id, evidence, self.name, severity))
        if remove is not None:
            start, end, what = remove
            self.removals.append(Removal(rule_id, start, end, what, truncate, self.inflated))

    def at(self, offset: int) -> str:
        return f"byte {offset} of the inflated data set" if self.inflated else f"byte {offset}"

    def result(self, dicom: bool) -> ScanResult:
        return ScanResult(self.name, self.src.size, dicom, self.transfer_syntax,
                          tuple(self.findings) if self.findings else (),
                          tuple(self.removals) if self.removals else (), self.dataset_offset)

    def not_dicom(self, why: str) -> ScanResult:
        sig = sniff_region(self.src.read(0, HEAD)) if self.src.size else None
        if sig is not None and sig.confirmed and (sig.family.executable
                                                  or sig.family is Family.HTML):
            self.add(RuleId.NOT_DICOM, f"{why}; it starts like a {sig.describe()}",
                     Severity.MEDIUM)
        else:
            self.add(RuleId.NOT_DICOM, f"{why}; {self.src.size} bytes")
        return self.result(False)

    # -- preamble: PS3.10 §7.1, CVE-2019-11687 -----------------------------------------------
    def preamble(self, pre: bytes) -> None:
        if pre == ZERO_PREAMBLE:
            return
        remove = (0, PREAMBLE, "preamble")
        if pre[:2] == b"MZ":
            lfanew = u32_le(pre, 0x3C)[0]
            pe = self.src.read(lfanew, lfanew + 24) if 4 <= lfanew < self.src.size else b""
            if pe[:4] == b"PE\0\0":
                if lfanew >= PREAMBLE:
                    self.pe_target = lfanew
                self.add(RuleId.PREAMBLE_PE, f"MZ header at byte 0; e_lfanew 0x{lfanew:X} leads to "
                         f"a PE header at byte {lfanew}: Windows runs this file as a program",
                         Severity.CRITICAL, remove)
            else:
                self.add(RuleId.PREAMBLE_PE, f"MZ (DOS executable) header at byte 0; e_lfanew "
                         f"0x{lfanew:X} does not lead to a PE header", remove=remove)
            return
        sig = sniff_region(pre)
        if sig is not None:
            self.add(RuleId(f"PREAMBLE-{sig.family.value}"), f"{sig.describe()} in the preamble",
                     remove=remove)
            return
        if pre[:4] in TIFF_HEADERS:
            return  # a TIFF header makes a dual-personality file; allowed (PS3.10 §7.1)
        nonzero = PREAMBLE - pre.count(0)
        first = next(i for i, b in enumerate(pre) if b)
        text = sum(1 for b in pre if 0x20 <= b < 0x7F or b in (9, 10, 13))
        kind = "mostly text" if text * 2 >= nonzero else "binary"
        self.add(RuleId.PREAMBLE_NONZERO, f"{nonzero} of 128 preamble bytes are not zero, the "
                 f"first at byte {first} ({kind}); no executable or document signature",
                 remove=remove)

    # -- values ------------------------------------------------------------------------------
    def value_head(self, src: Source, vpos: int, vend: int) -> bytes:
        """The value's first bytes; for an MZ stub, as far as its ``e_lfanew`` (up to 1 MiB)."""
        head = src.read(vpos, min(vend, vpos + HEAD))
        if head[:2] == b"MZ" and len(head) >= 0x40:
            lfanew = u32_le(head, 0x3C)[0]
            if len(head) < lfanew + 24 <= min(vend - vpos, 1 << 20):
                head = src.read(vpos, vpos + lfanew + 24)
        return head

    def inspect(self, tag: int, vr: bytes, vpos: int, vend: int, depth: int,
                src: Source | None = None) -> None:
        """Signature check of an OB, OW, UN or private value (PS3.5 §6.2)."""
        src = self.src if src is None else src
        head = self.value_head(src, vpos, vend)
        where = f"the value of {tag_text(tag)} {vr.decode('ascii', '?')}".rstrip()
        if depth:
            where += " (in a sequence item)"
        sig = sniff(head, 0, vend - vpos)
        if sig is not None and sig.confirmed:
            if sig.family is Family.PDF:
                self.add(RuleId.HIDDEN_DOCUMENT, f"a PDF document ({vend - vpos} bytes) at "
                         f"{self.at(vpos)} in {where}",
                         remove=(vpos, vend, f"value of {tag_text(tag)}"))
                self.pdf(src.read(vpos, min(vend, vpos + self.limits.max_document)),
                         where, vpos, vend, tag)
                return
            if sig.family is Family.HTML:
                text = src.read(vpos, min(vend, vpos + self.limits.max_document))
                scripts = documents.xml_markers(text).script
                self.add(RuleId.HIDDEN_ACTIVE_CONTENT, f"HTML/script markup ({vend - vpos} "
                         f"bytes) at {self.at(vpos)} in {where}"
                         + (f", with {scripts} script marker(s)" if scripts else ""),
                         Severity.HIGH if scripts else None,
                         remove=(vpos, vend, f"value of {tag_text(tag)}"))
                return
            self.report(sig, where, vpos, vend, depth)
            return
        if vpos <= self.pe_target < vend:
            self.add(RuleId.HIDDEN_EXECUTABLE, f"{where} ({vend - vpos} bytes from "
                     f"{self.at(vpos)}) holds the PE header at byte {self.pe_target} that the "
                     "preamble's e_lfanew points to",
                     remove=(vpos, vend, f"value of {tag_text(tag)}"))

    def report(self, sig: Signature, where: str, vpos: int, vend: int, depth: int) -> None:
        what = f"{sig.describe()} at {self.at(vpos)} in {where} ({vend - vpos} bytes)"
        remove = (vpos, vend, where.removeprefix("the "))
        if sig.family.executable or sig.executable_inside:
            self.add(RuleId.HIDDEN_EXECUTABLE, what, remove=remove)
        elif sig.family in (Family.ZIP, Family.ARCHIVE):
            self.add(RuleId.HIDDEN_ARCHIVE, what, remove=remove)
        elif sig.family is Family.HTML:
            self.add(RuleId.HIDDEN_ACTIVE_CONTENT, what, remove=remove)
        elif sig.family is Family.PDF:
            self.add(RuleId.HIDDEN_DOCUMENT, what, remove=remove)

    # -- encapsulated documents: PS3.3 A.45 --------------------------------------------------
    def document(self, src: Source, tag: int, vpos: int, vend: int) -> None:
        data = src.read(vpos, min(vend, vpos + self.limits.max_document))
        where = f"the encapsulated document {tag_text(tag)}"
        if documents.looks_like_pdf(data):
            self.pdf(data, where, vpos, vend, tag)
        elif documents.looks_like_xml(data):
            self.xml(data, where, vpos, vend, tag)
        else:
            sig = sniff(data, 0, vend - vpos)
            if sig is not None and sig.confirmed:
                self.report(sig, where, vpos, vend, 0)

    def pdf(self, data: bytes, where: str, vpos: int, vend: int, tag: int) -> None:
        m = documents.pdf_markers(data)
        size = f"in the PDF of {where} ({vend - vpos} bytes at {self.at(vpos)})"
        remove = (vpos, vend, f"value of {tag_text(tag)}")
        js = m.has("JavaScript", "JS")
        if js:
            self.add(RuleId.CONTENT_PDF_JAVASCRIPT, f"{m.describe('JavaScript', 'JS')} {size}",
                     remove=remove)
        if m.has("Launch"):
            self.add(RuleId.CONTENT_PDF_LAUNCH, f"{m.describe('Launch')} {size}", remove=remove)
        if m.has("EmbeddedFile", "EmbeddedFiles"):
            self.add(RuleId.CONTENT_PDF_EMBEDDED_FILE,
                     f"{m.describe('EmbeddedFile', 'EmbeddedFiles')} {size}", remove=remove)
        if m.has("AA") or (js and m.has("OpenAction")):
            self.add(RuleId.CONTENT_PDF_AUTO_ACTION, f"{m.describe('AA', 'OpenAction')} {size}",
                     Severity.HIGH if js else None, remove=remove)
        if m.has("RichMedia", "XFA", "SubmitForm", "ImportData"):
            self.add(RuleId.CONTENT_PDF_ACTIVE,
                     f"{m.describe('RichMedia', 'XFA', 'SubmitForm', 'ImportData')} {size}",
                     remove=remove)
        if m.inflate_budget_hit:
            self.add(RuleId.CONTENT_PDF_ACTIVE, f"not every compressed stream could be searched "
                     f"(more than {documents.MAX_STREAMS} streams or "
                     f"{documents.MAX_INFLATED} bytes inflated) {size}", Severity.LOW,
                     remove=remove)

    def xml(self, data: bytes, where: str, vpos: int, vend: int, tag: int) -> None:
        m = documents.xml_markers(data)
        size = f"in the XML of {where} ({vend - vpos} bytes at {self.at(vpos)})"
        remove = (vpos, vend, f"value of {tag_text(tag)}")
        if m.script:
            self.add(RuleId.CONTENT_CDA_SCRIPT, f"{m.script} script marker(s) (<script>, "
                     f"javascript:, vbscript:) {size}", remove=remove)
        if m.objects:
            found = ", ".join(f"<{k}> x{n}" for k, n in sorted(m.objects.items()))
            self.add(RuleId.CONTENT_CDA_EMBEDDED, f"{found} {size}", remove=remove)
        if m.entities:
            self.add(RuleId.CONTENT_CDA_ENTITY, f"{m.entities} <!ENTITY> declaration(s) {size}",
                     remove=remove)

    # -- after the data set ------------------------------------------------------------------
    def trailing(self, src: Source, start: int) -> None:
        """Bytes after the last element (or after the DEFLATE stream) that DICOM ignores."""
        n = src.size - start
        region = src.read(start, min(src.size, start + (1 << 20)))
        zero = n <= (1 << 20) and not region.strip(b"\0")
        if not self.inflated:
            self.trailing_start = start
        if zero:
            self.add(RuleId.STRUCT_TRAILING, f"{n} zero bytes follow the data set at "
                     f"{self.at(start)}", Severity.INFO)
            return
        self.add(RuleId.STRUCT_TRAILING, f"{n} bytes follow the data set at {self.at(start)}",
                 remove=(start, src.size, "bytes after the data set"), truncate=True)
        sig = sniff_region(region[:HEAD])
        if sig is not None and sig.confirmed:
            what = f"{sig.describe()} in the bytes after the data set, at {self.at(start)}"
            if sig.family.executable or sig.executable_inside:
                self.add(RuleId.HIDDEN_EXECUTABLE, what)
            elif sig.family in (Family.ZIP, Family.ARCHIVE):
                self.add(RuleId.HIDDEN_ARCHIVE, what, Severity.MEDIUM)
            elif sig.family is Family.HTML:
                self.add(RuleId.HIDDEN_ACTIVE_CONTENT, what)
            else:
                self.add(RuleId.HIDDEN_DOCUMENT, what)

    def zip_tail(self) -> None:
        """A ZIP end record at the very end makes the file open as an archive (polyglot)."""
        src = self.src
        size = src.size
        if size < 22:
            return
        start = max(0, size - ZIP_TAIL)
        in_buffer = src.base <= start and src.base + len(src.buf) >= size
        if in_buffer and src.buf.rfind(b"PK\x05\x06", start - src.base) < 0:
            return  # the common case, without copying the tail
        try:
            tail = src.read(start, size)
        except ShortRead:
            return
        end = zip_end(tail, start, size)
        if end is None or (self.trailing_start is not None and end.offset >= self.trailing_start):
            return
        if any(r.start <= end.offset < r.end and r.finding_id == RuleId.HIDDEN_EXECUTABLE
               for r in self.removals if not r.inflated):
            return  # inside a value already reported as high (and removed by disarm)
        entries = f"{end.entries} entr{'y' if end.entries == 1 else 'ies'}"
        what = (f"a ZIP end-of-central-directory record at byte {end.offset} ({entries}): ZIP "
                "and JAR tools open this file as an archive")
        remove = (end.offset, min(size, end.offset + 22), "ZIP end record")
        if end.runnable:
            self.add(RuleId.HIDDEN_EXECUTABLE, f"{what}; an entry is runnable (.{end.runnable})",
                     remove=remove)
        else:
            self.add(RuleId.HIDDEN_ARCHIVE, what, Severity.MEDIUM, remove=remove)
