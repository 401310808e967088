"""The fuzz campaign's cases: a bounded, reproducible list of malformed PDUs and data sets
(:func:`campaign`; :mod:`pacsguard.assess.fuzz` sends them).

The same seed, number of cases and called AE title give the same bytes. First a fixed list of
classic malformations, then random mutations:

* PDUs (PS3.8 §9.3): a valid A-ASSOCIATE-RQ built with pynetdicom's PDU classes, then bad PDU
  lengths (0, short, long, 2 GiB, 4 GiB), truncation, unknown PDU types, an oversized or tiny
  maximum PDU length, invalid presentation contexts (none, even or duplicate IDs, no transfer
  syntax, empty or 1,024-character abstract syntax, an item longer than the PDU, 300
  contexts), missing or bogus application context and user information, binary AE titles,
  wrong protocol versions, unknown items, PDUs out of order;
* data sets inside C-STORE (only with ``--allow-write``; each is a labelled test instance,
  :mod:`pacsguard.assess.testdata`, and no case touches its patient's name or ID, so that
  whatever the node keeps stays labelled): unknown and wrong VRs, odd and overrunning lengths, a
  4 GiB length, sequences nested 256 and 2,048 deep (terminated and not), an undefined length
  on a text element, a wrong command group length, a PDV longer than its PDU, the data set
  before the command;
* random: bit flips, 16-bit length fields set to edge values, truncation, insertion and
  duplication, in the A-ASSOCIATE-RQ or the data set.

Nothing destructive is ever sent: no command but C-STORE of the test instance and C-ECHO.

**Malformed on purpose.** The valid PDUs and command sets every case starts from come from
the upper layer (:mod:`pacsguard.dicom.pdu`); the malformations are made here, by hand, at
the byte level (items, lengths, elements), because the upper layer only ever writes what the
standard allows. Each such builder says so.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pacsguard.assess.net import associate_rq
from pacsguard.assess.testdata import (
    derived_uid,
    encode,
    labelled_instance,
    labelled_patient_id,
)
from pacsguard.dicom.pdu import Proposal, echo_rq, frame, pdv, store_rq
from pacsguard.dicom.status import Pdu
from pacsguard.dicom.tags import ITEM, ITEM_DELIM, SEQ_DELIM, UNDEFINED_LENGTH
from pacsguard.dicom.uids import EXPLICIT_LE, IMPLICIT_LE, SECONDARY_CAPTURE, VERIFICATION

_LONG_VRS = (b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV")
_PDU_PROPOSALS = (Proposal(VERIFICATION, (IMPLICIT_LE,)),
                  Proposal(SECONDARY_CAPTURE, (EXPLICIT_LE, IMPLICIT_LE)))


@dataclass(frozen=True)
class Step:
    """Send these bytes; or, with ``await_ac``, read the A-ASSOCIATE-AC and go on only if it
    accepted presentation context 1."""

    send: bytes = b""
    await_ac: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"await_ac": True} if self.await_ac else {"send": self.send.hex()}


@dataclass(frozen=True)
class Case:
    number: int
    kind: str
    description: str
    steps: tuple[Step, ...]
    study_uid: str = ""  # a data-set case: the test instance it carries
    sop_instance_uid: str = ""


# -- building blocks ---------------------------------------------------------------------------
# Malformed on purpose: items and lengths are written by hand here (PS3.8 §9.3.2 layout), so that
# a case can give them values the upper layer (pacsguard.dicom.pdu) never would.
def _items(body: bytes, start: int) -> list[tuple[int, int, int]]:
    """(type, start, end) of the items in ``body`` from ``start`` (PS3.8 §9.3.2.1 layout:
    type 1, reserved 1, length 2)."""
    out = []
    i = start
    while i + 4 <= len(body):
        ln = int.from_bytes(body[i + 2:i + 4], "big")
        out.append((body[i], i, i + 4 + ln))
        i += 4 + ln
    return out


def _item(kind: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BxH", kind, len(value) if length is None else length) + value


def _pc(cid: int, abstract: str, transfer: tuple[str, ...]) -> bytes:
    """A Presentation Context item of an A-ASSOCIATE-RQ (PS3.8 §9.3.2.2)."""
    subs = _item(0x30, abstract.encode()) + b"".join(_item(0x40, t.encode()) for t in transfer)
    return _item(0x20, bytes([cid, 0, 0, 0]) + subs)


class _Baseline:
    """The valid A-ASSOCIATE-RQ every PDU case starts from, split into its items."""

    def __init__(self, called: str, calling: str) -> None:
        self.called, self.calling = called, calling
        self.rq = associate_rq(called, calling, _PDU_PROPOSALS)
        items = _items(self.rq, 74)
        self.fixed = self.rq[6:74]
        self.app = next(self.rq[s:e] for t, s, e in items if t == 0x10)
        self.pcs = [self.rq[s:e] for t, s, e in items if t == 0x20]
        self.user = next(self.rq[s:e] for t, s, e in items if t == 0x50)

    def build(self, *, fixed: bytes | None = None, app: bytes | None = None,
              pcs: list[bytes] | None = None, user: bytes | None = None, extra: bytes = b"",
              kind: int = Pdu.A_ASSOCIATE_RQ) -> bytes:
        body = ((self.fixed if fixed is None else fixed) + (self.app if app is None else app)
                + b"".join(self.pcs if pcs is None else pcs)
                + (self.user if user is None else user) + extra)
        return frame(kind, body)

    def user_with(self, sub: int, value: bytes | None) -> bytes:
        """The user information item with sub-item ``sub`` replaced (None: removed)."""
        subs = []
        for t, s, e in _items(self.user, 4):
            if t == sub:
                if value is not None:
                    subs.append(_item(sub, value))
            else:
                subs.append(self.user[s:e])
        return _item(0x50, b"".join(subs))

    def titles(self, called: bytes, calling: bytes) -> bytes:
        return self.fixed[:4] + called.ljust(16)[:16] + calling.ljust(16)[:16] + self.fixed[36:]


def _length(b: bytes, n: int) -> bytes:
    return b[:2] + struct.pack(">L", n & 0xFFFFFFFF) + b[6:]


def _pdu_cases(base: _Baseline) -> list[tuple[str, str, tuple[Step, ...]]]:
    rq = base.rq
    n = len(rq) - 6
    pc0 = base.pcs[0]
    cases: list[tuple[str, bytes, str]] = [
        ("pdu-length-zero", _length(rq, 0), "A-ASSOCIATE-RQ with PDU length 0, body follows"),
        ("pdu-length-short", _length(rq, n - 17), "PDU length 17 bytes short of the body"),
        ("pdu-length-long", _length(rq, n + 4096), "PDU length 4,096 bytes past the body"),
        ("pdu-length-2gib", _length(rq, 0x7FFFFFFF), "PDU length 2 GiB"),
        ("pdu-length-4gib", _length(rq, 0xFFFFFFFF), "PDU length 4 GiB - 1"),
        ("truncated-header", rq[:3], "3 bytes of a PDU header, then nothing"),
        ("truncated-fixed", rq[:40], "A-ASSOCIATE-RQ cut inside the AE titles"),
        ("truncated-item", rq[:74 + len(base.app) + len(pc0) // 2],
         "A-ASSOCIATE-RQ cut inside the first presentation context"),
        ("unknown-pdu-0x00", bytes([0x00]) + rq[1:], "unknown PDU type 0x00"),
        ("unknown-pdu-0x08", bytes([0x08]) + rq[1:], "unknown PDU type 0x08"),
        ("unknown-pdu-0xff", bytes([0xFF]) + rq[1:], "unknown PDU type 0xFF"),
        ("pc-item-overrun", base.build(pcs=[pc0[:2] + b"\xff\xff" + pc0[4:], *base.pcs[1:]]),
         "presentation context item length 65,535: runs past the end of the PDU"),
        ("max-pdu-4gib", base.build(user=base.user_with(0x51, b"\xff\xff\xff\xff")),
         "maximum PDU length 4 GiB - 1"),
        ("max-pdu-tiny", base.build(user=base.user_with(0x51, b"\x00\x00\x00\x01")),
         "maximum PDU length 1 byte"),
        ("pc-none", base.build(pcs=[]), "no presentation context"),
        ("pc-even-id", base.build(pcs=[_pc(2, VERIFICATION, (IMPLICIT_LE,))]),
         "presentation context ID 2 (must be odd)"),
        ("pc-duplicate-id", base.build(pcs=[_pc(1, VERIFICATION, (IMPLICIT_LE,)),
                                            _pc(1, SECONDARY_CAPTURE, (EXPLICIT_LE,))]),
         "two presentation contexts with ID 1"),
        ("pc-no-transfer-syntax", base.build(pcs=[_pc(1, VERIFICATION, ())]),
         "presentation context without a transfer syntax"),
        ("pc-empty-abstract", base.build(pcs=[_pc(1, "", (IMPLICIT_LE,))]),
         "empty abstract syntax"),
        ("pc-long-abstract", base.build(pcs=[_pc(1, "1." * 511 + "1", (IMPLICIT_LE,))]),
         "1,023-character abstract syntax"),
        ("pc-many", base.build(pcs=[_pc((2 * i + 1) & 0xFF, VERIFICATION, (IMPLICIT_LE,))
                                    for i in range(300)]),
         "300 presentation contexts (128 allowed; IDs wrap)"),
        ("pc-subitem-overrun", base.build(pcs=[pc0[:8] + pc0[8:10] + b"\x01\x00" + pc0[12:],
                                               *base.pcs[1:]]),
         "abstract syntax sub-item longer than its presentation context"),
        ("app-context-bogus", base.build(app=_item(0x10, b"1.2.3.4.5")),
         "unknown application context name"),
        ("app-context-missing", base.build(app=b""), "no application context item"),
        ("user-info-missing", base.build(user=b""), "no user information item"),
        ("implementation-uid-empty", base.build(user=base.user_with(0x52, b"")),
         "empty implementation class UID"),
        ("ae-titles-binary", base.build(fixed=base.titles(b"\x00\xff" * 8, b"\xff\x00" * 8)),
         "called and calling AE titles of NUL and 0xFF bytes"),
        ("protocol-version-0", base.build(fixed=b"\x00\x00" + base.fixed[2:]),
         "protocol version 0"),
        ("protocol-version-ffff", base.build(fixed=b"\xff\xff" + base.fixed[2:]),
         "protocol version 0xFFFF"),
        ("unknown-item", base.build(extra=_item(0x99, b"\x00" * 16)), "unknown item type 0x99"),
        ("items-oversized", base.build(extra=_item(0x99, bytes(0xFFFF)) * 4),
         "256 KiB of unknown items"),
        ("pdata-first", pdv(1, echo_rq(1, VERIFICATION), command=True), "P-DATA-TF (C-ECHO) "
         "before any association"),
        ("release-first", frame(Pdu.A_RELEASE_RQ, bytes(4)),
         "A-RELEASE-RQ before any association"),
        ("ac-as-request", bytes([Pdu.A_ASSOCIATE_AC]) + rq[1:], "an A-ASSOCIATE-AC sent to the "
         "acceptor"),
        ("zero-pdu", bytes(6), "six zero bytes"),
    ]
    return [(kind, desc, (Step(data),)) for kind, data, desc in cases]


# -- data sets ---------------------------------------------------------------------------------
# Malformed on purpose: elements are written by hand (PS3.5 §7.1), with any VR and length.
def _ex(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    """One Explicit VR Little Endian element (PS3.5 §7.1.2), length as given."""
    n = len(value) if length is None else length
    if vr in _LONG_VRS:
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, n & 0xFFFFFFFF) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, n & 0xFFFF) + value


def _im(tag: int, value: bytes, length: int | None = None) -> bytes:
    n = len(value) if length is None else length
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, n & 0xFFFFFFFF) + value


def _delimiter(tag: int) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, 0)


def _nested(depth: int, terminated: bool) -> bytes:
    """Content Sequence (0040,A730) nested ``depth`` deep, undefined lengths."""
    opening = (_ex(0x0040A730, b"SQ", b"", UNDEFINED_LENGTH)
               + struct.pack("<HHL", ITEM >> 16, ITEM & 0xFFFF, UNDEFINED_LENGTH)) * depth
    inner = _ex(0x0040A040, b"CS", b"TEXT")
    closing = (_delimiter(ITEM_DELIM) + _delimiter(SEQ_DELIM)) * depth if terminated else b""
    return opening + inner + closing


class _DataBaseline:
    """The association and C-STORE every data-set case starts from (context ID 1)."""

    def __init__(self, called: str, calling: str, seed: int) -> None:
        self.called, self.calling, self.seed = called, calling, seed
        self.patient = labelled_patient_id(f"F{seed:X}"[:16])
        self.study = derived_uid("pacsguard-fuzz", seed, "study")

    def instance(self, number: int) -> Any:
        return labelled_instance(self.study, self.patient,
                                 derived_uid("pacsguard-fuzz", self.seed, number, "sop"),
                                 derived_uid("pacsguard-fuzz", self.seed, "series"),
                                 when=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))

    def steps(self, sop: str, data: bytes, implicit: bool = False,
              command: bytes | None = None, raw: list[bytes] | None = None
              ) -> tuple[Step, ...]:
        rq = associate_rq(self.called, self.calling,
                          [Proposal(SECONDARY_CAPTURE, (IMPLICIT_LE if implicit
                                                        else EXPLICIT_LE,))])
        cmd = command if command is not None else _store_rq(sop)
        pdus = raw if raw is not None else [pdv(1, cmd, command=True),
                                           pdv(1, data, command=False)]
        return (Step(rq), Step(await_ac=True), *(Step(p) for p in pdus))


def _store_rq(sop: str) -> bytes:
    """The C-STORE-RQ of the test instance ``sop`` (PS3.7 §9.3.1.1), message ID 1."""
    return store_rq(1, SECONDARY_CAPTURE, sop)


def _dataset_cases(db: _DataBaseline, first: int
                   ) -> list[tuple[str, str, tuple[Step, ...], str]]:
    out: list[tuple[str, str, tuple[Step, ...], str]] = []

    def add(kind: str, desc: str, build: Callable[[Any, str], tuple[Step, ...]]) -> None:
        number = first + len(out)
        ds = db.instance(number)
        sop = str(ds.SOPInstanceUID)
        out.append((kind, desc, build(ds, sop), sop))

    def split(ds: Any, lo: int, hi: int, implicit: bool = False) -> tuple[bytes, bytes]:
        return encode(ds[:lo], implicit), encode(ds[hi:], implicit)

    def around(lo: int, hi: int, element: bytes, implicit: bool = False
               ) -> Callable[[Any, str], tuple[Step, ...]]:
        def build(ds: Any, sop: str) -> tuple[Step, ...]:
            head, tail = split(ds, lo, hi, implicit)
            return db.steps(sop, head + element + tail, implicit)
        return build

    # the patient's name and ID (the test label cleanup relies on) are never malformed
    add("ds-vr-unknown", "Manufacturer with the unknown VR 'ZZ'",
        around(0x00080070, 0x00080071, _ex(0x00080070, b"ZZ", b"pacsguard ")))
    add("ds-vr-mismatch", "Rows (US) sent as FD with 2 bytes",
        around(0x00280010, 0x00280011, _ex(0x00280010, b"FD", b"\x08\x00")))
    add("ds-length-odd", "Rows (US) with length 3",
        around(0x00280010, 0x00280011, _ex(0x00280010, b"US", b"\x08\x00\x00")))
    add("ds-length-overrun", "Pixel Data length 4,096 bytes past the end of the data set",
        around(0x7FE00010, 0x7FE00011, _ex(0x7FE00010, b"OB", bytes(64), 64 + 4096)))
    add("ds-length-4gib", "Pixel Data length 0xFFFFFFF0 with 64 bytes present",
        around(0x7FE00010, 0x7FE00011, _ex(0x7FE00010, b"OB", bytes(64), 0xFFFFFFF0)))
    add("ds-nesting-256", "sequence nested 256 deep, delimited",
        around(0x0040A730, 0x0040A731, _nested(256, True)))
    add("ds-nesting-2048", "sequence nested 2,048 deep, delimited",
        around(0x0040A730, 0x0040A731, _nested(2048, True)))
    add("ds-nesting-unterminated", "sequence nested 256 deep, never delimited",
        around(0x0040A730, 0x0040A731, _nested(256, False)))
    add("ds-undefined-length-text", "Study ID with undefined length (Implicit VR)",
        around(0x00200010, 0x00200011, _im(0x00200010, b"PGTEST", UNDEFINED_LENGTH), implicit=True))

    def bad_group_length(ds: Any, sop: str) -> tuple[Step, ...]:  # malformed on purpose
        cmd = _store_rq(sop)
        return db.steps(sop, encode(ds), command=cmd[:8] + struct.pack("<L", 0xFFFF) + cmd[12:])
    add("cmd-group-length", "C-STORE-RQ whose command group length is 65,535", bad_group_length)

    def pdv_overrun(ds: Any, sop: str) -> tuple[Step, ...]:  # malformed on purpose
        cmd = _store_rq(sop)
        bad = frame(Pdu.P_DATA_TF, struct.pack(">LBB", 0x00FFFFFF, 1, 0x03) + cmd)
        return db.steps(sop, b"", raw=[bad])
    add("pdv-overrun", "PDV item length 16 MiB inside a short P-DATA-TF", pdv_overrun)

    def data_first(ds: Any, sop: str) -> tuple[Step, ...]:
        return db.steps(sop, b"", raw=[pdv(1, encode(ds), command=False),
                                      pdv(1, _store_rq(sop), command=True)])
    add("data-before-command", "the data set sent before its C-STORE-RQ", data_first)
    return out


# -- random cases ------------------------------------------------------------------------------
def _mutate(rng: random.Random, data: bytes, keep: int) -> tuple[bytes, str]:
    """One random mutation of ``data`` past its first ``keep`` bytes."""
    b = bytearray(data)
    if len(b) <= keep + 1:
        return bytes(b), "unchanged (too short)"
    how = rng.choice(("flip", "flip", "length16", "truncate", "insert", "duplicate"))
    if how == "flip":
        spots = sorted(rng.randrange(keep, len(b)) for _ in range(rng.randint(1, 8)))
        for i in spots:
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b), f"bit flips at {', '.join(map(str, spots))}"
    if how == "length16":
        i = rng.randrange(keep, len(b) - 1)
        v = rng.choice((0, 1, 0x7FFF, 0x8000, 0xFFFF, rng.randrange(0x10000)))
        b[i:i + 2] = v.to_bytes(2, "big")
        return bytes(b), f"16-bit value 0x{v:04X} at {i}"
    if how == "truncate":
        i = rng.randrange(keep, len(b))
        return bytes(b[:i]), f"truncated to {i} bytes"
    if how == "insert":
        i = rng.randrange(keep, len(b))
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        return bytes(b[:i] + junk + b[i:]), f"{len(junk)} random bytes inserted at {i}"
    i = rng.randrange(keep, len(b))
    j = min(len(b), i + rng.randint(1, 256))
    return bytes(b[:j] + b[i:j] + b[j:]), f"bytes {i}-{j} duplicated"


def _fix_length(p: bytes) -> bytes:
    return _length(p, len(p) - 6) if len(p) >= 6 else p


def _random_case(rng: random.Random, base: _Baseline, db: _DataBaseline | None,
                 number: int) -> Case:
    if db is not None and rng.random() < 0.3:
        ds = db.instance(number)
        sop = str(ds.SOPInstanceUID)
        # mutations start after the identifying elements (patient, SOP, study and series
        # UIDs), so that whatever the node keeps is still labelled and can be cleaned up
        keep = len(encode(ds[:0x00200010]))
        data, how = _mutate(rng, encode(ds), keep)
        return Case(number, "random-dataset", f"C-STORE data set: {how}",
                    db.steps(sop, data), db.study, sop)
    mutated, how = _mutate(rng, base.rq, 6)
    if rng.random() < 0.8:
        mutated = _fix_length(mutated)
        how += " (PDU length fixed up)"
    return Case(number, "random-pdu", f"A-ASSOCIATE-RQ: {how}", (Step(mutated),))


def campaign(seed: int, cases: int, called: str, with_datasets: bool) -> Iterator[Case]:
    """The campaign's cases, in order: reproducible from (seed, cases, called, with_datasets)."""
    calling = f"PGF{seed & 0xFFFFFFF:07X}"
    base = _Baseline(called, calling)
    db = _DataBaseline(called, calling, seed) if with_datasets else None
    number = 0
    for kind, desc, steps in _pdu_cases(base):
        if number >= cases:
            return
        number += 1
        yield Case(number, kind, desc, steps)
    if db is not None:
        for kind, desc, steps, sop in _dataset_cases(db, number + 1):
            if number >= cases:
                return
            number += 1
            yield Case(number, kind, desc, steps, db.study, sop)
    rng = random.Random(seed)
    while number < cases:
        number += 1
        yield _random_case(rng, base, db, number)

