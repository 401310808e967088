"""The scanner's finding ids: one :class:`Rule` each, with its usual severity and remediation.

docs/scan.md explains each id and why it has its severity; keep the two in step. A few ids
take another severity when the evidence warrants it (a DOS stub whose ``e_lfanew`` leads to a
real PE header is ``critical``, an all-zero tail is only ``info``); :func:`finding` accepts
that override. Evidence never carries patient data: offsets, tags, VRs, sizes, signatures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pacsguard.findings import Finding, Severity


class RuleId(StrEnum):
    """The scanner's finding ids: a closed set, one :class:`Rule` each. Members are the id
    strings themselves, so JSON, CSV, the disarm manifest and the gateway's audit log carry
    the same text as always."""

    PREAMBLE_NONZERO = "PREAMBLE-NONZERO"
    PREAMBLE_PE = "PREAMBLE-PE"
    PREAMBLE_ELF = "PREAMBLE-ELF"
    PREAMBLE_MACHO = "PREAMBLE-MACHO"
    PREAMBLE_JAVA = "PREAMBLE-JAVA"
    PREAMBLE_SCRIPT = "PREAMBLE-SCRIPT"
    PREAMBLE_ZIP = "PREAMBLE-ZIP"
    PREAMBLE_ARCHIVE = "PREAMBLE-ARCHIVE"
    PREAMBLE_PDF = "PREAMBLE-PDF"
    PREAMBLE_HTML = "PREAMBLE-HTML"
    PREAMBLE_ABSENT = "PREAMBLE-ABSENT"
    NOT_DICOM = "NOT-DICOM"
    CONTENT_PDF_JAVASCRIPT = "CONTENT-PDF-JAVASCRIPT"
    CONTENT_PDF_LAUNCH = "CONTENT-PDF-LAUNCH"
    CONTENT_PDF_EMBEDDED_FILE = "CONTENT-PDF-EMBEDDED-FILE"
    CONTENT_PDF_AUTO_ACTION = "CONTENT-PDF-AUTO-ACTION"
    CONTENT_PDF_ACTIVE = "CONTENT-PDF-ACTIVE"
    CONTENT_CDA_SCRIPT = "CONTENT-CDA-SCRIPT"
    CONTENT_CDA_EMBEDDED = "CONTENT-CDA-EMBEDDED"
    CONTENT_CDA_ENTITY = "CONTENT-CDA-ENTITY"
    HIDDEN_EXECUTABLE = "HIDDEN-EXECUTABLE"
    HIDDEN_ARCHIVE = "HIDDEN-ARCHIVE"
    HIDDEN_ACTIVE_CONTENT = "HIDDEN-ACTIVE-CONTENT"
    HIDDEN_DOCUMENT = "HIDDEN-DOCUMENT"
    STRUCT_LENGTH = "STRUCT-LENGTH"
    STRUCT_NESTING = "STRUCT-NESTING"
    STRUCT_FRAGMENTS = "STRUCT-FRAGMENTS"
    STRUCT_TRAILING = "STRUCT-TRAILING"
    STRUCT_DEFLATE = "STRUCT-DEFLATE"
    STRUCT_ILLEGAL_GROUP = "STRUCT-ILLEGAL-GROUP"
    STRUCT_MALFORMED = "STRUCT-MALFORMED"
    STRUCT_TS_MISMATCH = "STRUCT-TS-MISMATCH"


@dataclass(frozen=True)
class Rule:
    id: RuleId
    severity: Severity
    title: str
    remediation: str


_QUARANTINE_PREAMBLE = (
    "Quarantine the file and do not open it on a workstation. 'pacsguard scan --disarm "
    "OUT_DIR' writes a copy with the preamble zeroed (the data set unchanged); find out which "
    "system wrote it (CVE-2019-11687)."
)
_QUARANTINE_CONTENT = (
    "Quarantine the file; do not open the content outside DICOM viewers. 'pacsguard scan "
    "--disarm OUT_DIR' writes a copy with the value zeroed; ask the sender or vendor why it "
    "was there."
)
_RESEND = (
    "Quarantine the file: readers may crash, loop or exhaust memory on it. Ask the sender to "
    "send it again; a malformed structure cannot be disarmed reliably."
)

RULES: dict[RuleId, Rule] = {r.id: r for r in (
    # -- preamble: PS3.10 §7.1, CVE-2019-11687 -------------------------------------------------
    Rule(RuleId.PREAMBLE_NONZERO, Severity.LOW,
         "The 128-byte preamble is not zero and is not a TIFF header",
         "Find out which application wrote it; zero it ('scan --disarm') unless an "
         "application profile needs it (PS3.10 §7.1)."),
    Rule(RuleId.PREAMBLE_PE, Severity.HIGH,
         "The preamble is a Windows executable header (MZ/PE)", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_ELF, Severity.HIGH,
         "The preamble is an ELF executable header", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_MACHO, Severity.HIGH,
         "The preamble is a Mach-O executable header", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_JAVA, Severity.HIGH,
         "The preamble is a Java class file header", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_SCRIPT, Severity.HIGH,
         "The preamble is a script with an interpreter line (#!)", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_ZIP, Severity.HIGH,
         "The preamble starts a ZIP/JAR archive", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_ARCHIVE, Severity.HIGH,
         "The preamble starts an archive (RAR, 7-Zip, CAB, gzip, OLE, ...)",
         _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_PDF, Severity.HIGH,
         "The preamble holds a PDF header", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_HTML, Severity.HIGH,
         "The preamble holds HTML or script markup", _QUARANTINE_PREAMBLE),
    Rule(RuleId.PREAMBLE_ABSENT, Severity.INFO,
         "No preamble and File Meta Information (a bare data set, pre-PS3.10)",
         "Legacy file: have it rewritten as a PS3.10 file (preamble, DICM, File Meta "
         "Information) when convenient."),
    Rule(RuleId.NOT_DICOM, Severity.INFO,
         "Not a DICOM file",
         "Remove it from the image folder, or find out what put it there; a DICOM receiver "
         "should reject it."),
    # -- content: PS3.3 A.45 (Encapsulated PDF), A.45.2 (Encapsulated CDA) ------------------------
    Rule(RuleId.CONTENT_PDF_JAVASCRIPT, Severity.HIGH,
         "An encapsulated PDF carries JavaScript (/JavaScript or /JS)", _QUARANTINE_CONTENT),
    Rule(RuleId.CONTENT_PDF_LAUNCH, Severity.HIGH,
         "An encapsulated PDF carries a /Launch action (starts a program)",
         _QUARANTINE_CONTENT),
    Rule(RuleId.CONTENT_PDF_EMBEDDED_FILE, Severity.MEDIUM,
         "An encapsulated PDF carries embedded files (/EmbeddedFile)", _QUARANTINE_CONTENT),
    Rule(RuleId.CONTENT_PDF_AUTO_ACTION, Severity.MEDIUM,
         "An encapsulated PDF runs actions on its own (/AA, or /OpenAction with JavaScript)",
         _QUARANTINE_CONTENT),
    Rule(RuleId.CONTENT_PDF_ACTIVE, Severity.MEDIUM,
         "An encapsulated PDF carries active content (/RichMedia, /XFA, /SubmitForm, "
         "/ImportData)", _QUARANTINE_CONTENT),
    Rule(RuleId.CONTENT_CDA_SCRIPT, Severity.HIGH,
         "An encapsulated XML/CDA document carries script (<script>, javascript:, vbscript:)",
         _QUARANTINE_CONTENT),
    Rule(RuleId.CONTENT_CDA_EMBEDDED, Severity.MEDIUM,
         "An encapsulated XML/CDA document embeds active objects (<object>, <embed>, "
         "<iframe>, <applet>)", _QUARANTINE_CONTENT),
    Rule(RuleId.CONTENT_CDA_ENTITY, Severity.MEDIUM,
         "An encapsulated XML/CDA document declares entities (XXE, entity expansion)",
         _QUARANTINE_CONTENT),
    # -- hidden content in OB, UN, private elements, fragments, or after the data set ------------
    Rule(RuleId.HIDDEN_EXECUTABLE, Severity.HIGH,
         "An executable or script is hidden in the file", _QUARANTINE_CONTENT),
    Rule(RuleId.HIDDEN_ARCHIVE, Severity.LOW,
         "An archive is hidden in the file",
         "Ask the vendor whether this element normally holds an archive; if not, quarantine "
         "the file and disarm it ('scan --disarm')."),
    Rule(RuleId.HIDDEN_ACTIVE_CONTENT, Severity.MEDIUM,
         "HTML or script markup is hidden in a binary or private element", _QUARANTINE_CONTENT),
    Rule(RuleId.HIDDEN_DOCUMENT, Severity.LOW,
         "A PDF is hidden outside the Encapsulated Document element", _QUARANTINE_CONTENT),
    # -- structural abuse: PS3.5 §7.1 (elements), §7.5 (nesting), §A.4 (fragments) ---------------
    Rule(RuleId.STRUCT_LENGTH, Severity.MEDIUM,
         "An element claims more bytes than its file, item or sequence holds", _RESEND),
    Rule(RuleId.STRUCT_NESTING, Severity.MEDIUM,
         "Sequences are nested deeper than any real object needs", _RESEND),
    Rule(RuleId.STRUCT_FRAGMENTS, Severity.MEDIUM,
         "Encapsulated pixel data has an excessive number of fragments", _RESEND),
    Rule(RuleId.STRUCT_TRAILING, Severity.MEDIUM,
         "Bytes follow the end of the data set",
         "DICOM readers ignore them, other tools may not (polyglots). 'scan --disarm' cuts "
         "them off; find out which system appended them."),
    Rule(RuleId.STRUCT_DEFLATE, Severity.HIGH,
         "The deflated data set is a decompression bomb or not valid deflate data", _RESEND),
    Rule(RuleId.STRUCT_ILLEGAL_GROUP, Severity.INFO,
         "Elements in group 0001, 0003, 0005 or 0007, which PS3.5 §7.8.1 does not allow",
         "Harmless to DICOM readers; tell the vendor or the de-identification tool that "
         "wrote them."),
    Rule(RuleId.STRUCT_MALFORMED, Severity.MEDIUM,
         "The data set is malformed where structure was expected", _RESEND),
    Rule(RuleId.STRUCT_TS_MISMATCH, Severity.LOW,
         "The File Meta declares Explicit VR; the data set is written in Implicit VR",
         "Readers that trust the File Meta misread every element (some guess and read it, "
         "some fail); the content was scanned as it is written. Have the writing system "
         "fixed, and ask the sender to send the image again once it is."),
)}


def finding(rule_id: RuleId, evidence: str, subject: str,
            severity: Severity | None = None) -> Finding:
    """A :class:`Finding` for ``rule_id`` (a key of :data:`RULES`)."""
    rule = RULES[rule_id]
    return Finding(rule.id, rule.severity if severity is None else severity, rule.title,
                   evidence, rule.remediation, subject)
