"""``pacsguard verify --pacs NAME``: check what the PACS holds against the ledger (docs/gateway.md).

Only the destination named in the gateway's configuration is contacted:

1. **List** (C-FIND, Study Root, one association): studies (all, one ``--study``, or those
   whose Study Date falls in ``--since``/``--until``), then their series, then their
   instances.
2. **Compare the lists** with the ledger, by SOP Instance UID: ``missing`` = recorded but not
   listed by the PACS; ``unrecorded`` = listed but never recorded (the gateway never saw it).
   The ledger side is scoped like the query: one study; the studies found in a date range (the
   ledger holds no examination dates, so a study deleted whole is only found by a run without
   a date range); or everything.
3. **Retrieve** (C-GET, a second association) every listed instance that was recorded, or a
   random ``--sample`` of them (the seed is printed, so a run can be repeated), and compare
   each with its ledger entry as it arrives: ``intact``, ``pixels_altered``,
   ``header_altered``, ``identity_altered``; listed but not returned, or not DICOM:
   ``corrupted``, saying what was proposed and what the PACS answered.

**What is proposed** (:func:`plan_contexts`). A C-GET's images come back as C-STORE
sub-operations on the presentation contexts the retrieving side proposed (PS3.4 C.4.3.3), so
a PACS that cannot convert an image to a proposed transfer syntax cannot return it (Orthanc
1.10 has no JPEG 2000 codec). For each SOP class among the instances to retrieve, one context
per transfer syntax the ledger recorded them in (so the image can come back as it was
stored), one for the uncompressed syntaxes, then, while the 128 contexts of an association
last, the other standard lossless and common lossy syntaxes (for a PACS that recompressed).
When one association cannot hold every context that is needed, the SOP classes are split over
several retrieval rounds.

**Retrieval level.** With the whole PACS, a study or a date range in scope, each series is
retrieved with one C-GET (Series level): measured against Orthanc 1.10 on the project's
machine, one C-GET per instance ran at ~20 instances/s, a series at ~300/s. With ``--sample``
each chosen instance is retrieved on its own (Image level). An instance a series-level C-GET
did not return is asked for once more on its own before it is reported.

**Memory.** Each arriving instance is written to a private temporary file, fingerprinted,
compared and deleted before the PACS is answered; ledger entries are read one series at a time.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pacsguard.dicom.status import PENDING, Dimse, retrieve_status_text
from pacsguard.dicom.uids import OTHER_STANDARD_SYNTAXES, UNCOMPRESSED_LE
from pacsguard.dicom.uids import transfer_syntax_name as ts_name
from pacsguard.errors import DicomReadError, PacsError, PacsFailure
from pacsguard.gateway.config import Destination
from pacsguard.integrity.fingerprint import fingerprint_file
from pacsguard.integrity.ledger import Ledger, StoredEntry, unpack_clinical_attrs
from pacsguard.integrity.profile import HeaderProfile
from pacsguard.integrity.status import Discrepancy, Status, compare

#: PS3.8 §9.3.2.2: at most 128 presentation contexts; two carry C-FIND and C-GET
MAX_STORAGE_CONTEXTS = 126


def _short_ts(uid: str) -> str:
    """A transfer syntax's name alone (its UID when it has none)."""
    return ts_name(uid, with_uid=False)


def _sop_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name
    return uid if not name or name == uid else name


@dataclass(frozen=True)
class Listed:
    study: str
    series: str
    sop: str


@dataclass(frozen=True)
class Scope:
    study: str | None = None
    since: str | None = None  # YYYYMMDD
    until: str | None = None
    sample: float | None = None  # fraction 0 < f <= 1
    seed: int | None = None

    @property
    def sampled(self) -> bool:
        return self.sample is not None and self.sample < 1


@dataclass(frozen=True)
class PacsReport:
    """What ``verify --pacs`` found: one finding per instance concerned, worst first."""

    findings: list[Discrepancy]
    seed: int
    listed: int  # instances the PACS listed (C-FIND), each UID once
    missing: int  # recorded in the ledger's scope, not listed
    retrieved: int  # listed, recorded and chosen for retrieval


@dataclass(frozen=True)
class Context:
    """One presentation context to propose for C-GET's C-STORE sub-operations."""

    sop_class: str
    transfer_syntaxes: tuple[str, ...]


def plan_contexts(pairs: dict[tuple[str, str], int],
                  limit: int = MAX_STORAGE_CONTEXTS) -> list[list[Context]]:
    """The storage contexts to propose, per retrieval round, for instances recorded as
    ``pairs`` ((SOP class, transfer syntax) -> how many instances).

    Per SOP class: one context per recorded compressed (or otherwise non-native) syntax and
    one for the uncompressed syntaxes (:data:`~pacsguard.dicom.uids.UNCOMPRESSED_LE`); these
    are required, and SOP classes are packed into rounds of at most ``limit`` required
    contexts (most frequent first). What is left of each round is filled, syntax by syntax
    across its classes, with :data:`~pacsguard.dicom.uids.OTHER_STANDARD_SYNTAXES`."""
    by_class: dict[str, dict[str, int]] = {}
    for (sop_class, ts), n in pairs.items():
        by_class.setdefault(sop_class, {})[ts] = n
    order = sorted(by_class, key=lambda c: (-sum(by_class[c].values()), c))
    required: dict[str, list[Context]] = {}
    for c in order:
        own = sorted((ts for ts in by_class[c] if ts not in UNCOMPRESSED_LE),
                     key=lambda ts: (-by_class[c][ts], ts))
        required[c] = [Context(c, (ts,)) for ts in own] + [Context(c, UNCOMPRESSED_LE)]
    rounds: list[list[str]] = []
    size = 0
    for c in order:
        need = min(len(required[c]), limit)
        if not rounds or size + need > limit:
            rounds.append([])
            size = 0
        rounds[-1].append(c)
        size += need
    out: list[list[Context]] = []
    for classes in rounds:
        contexts = [cx for c in classes for cx in required[c]][:limit]
        for ts in OTHER_STANDARD_SYNTAXES:
            for c in classes:
                if len(contexts) < limit and ts not in by_class[c]:
                    contexts.append(Context(c, (ts,)))
        out.append(contexts)
    return out


@dataclass(frozen=True)
class GetOutcome:
    """A C-GET's final response (PS3.4 C.4.3.1.4 statuses, PS3.7 C.4.3 counts)."""

    status: int | None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    failed_uids: frozenset[str] = frozenset()
    error: str = ""

    def describe(self, sop: str | None = None) -> str:
        if self.error:
            return self.error
        if self.status is None:
            return "no final C-GET response"
        what = retrieve_status_text(self.status)
        text = f"status 0x{self.status:04X}" + (f" ({what})" if what else "")
        text += (f"; sub-operations: {self.completed} completed, {self.failed} failed, "
                 f"{self.warning} with warnings")
        if sop is not None and sop in self.failed_uids:
            text += "; it lists this instance as failed"
        return text


class PacsAssociation:
    """One association to the PACS: C-FIND, and with ``contexts`` C-GET whose C-STORE
    sub-operations are handed to ``on_store`` (SCP role, PS3.4 C.4.3.3)."""

    def __init__(self, dest: Destination, calling_aet: str, contexts: list[Context],
                 on_store: Callable[[Any], int] | None = None) -> None:
        from pynetdicom import AE, build_role, evt
        from pynetdicom.sop_class import (  # type: ignore[attr-defined]
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
        )

        self.dest = dest
        self._find = StudyRootQueryRetrieveInformationModelFind
        self._get = StudyRootQueryRetrieveInformationModelGet
        self.proposed: dict[str, list[str]] = {}
        ae = AE(ae_title=calling_aet)
        ae.add_requested_context(self._find)
        if contexts:
            ae.add_requested_context(self._get)
        for cx in contexts[:MAX_STORAGE_CONTEXTS]:
            ae.add_requested_context(cx.sop_class, list(cx.transfer_syntaxes))
            self.proposed.setdefault(cx.sop_class, []).extend(cx.transfer_syntaxes)
        roles: list[Any] = [build_role(c, scp_role=True) for c in self.proposed]
        ae.acse_timeout = ae.network_timeout = ae.connection_timeout = dest.timeout_seconds
        ae.dimse_timeout = max(dest.timeout_seconds, 30.0)
        tls = dest.ssl_context()
        handlers: list[Any] = [(evt.EVT_C_STORE, on_store)] if on_store is not None else []
        self.assoc = ae.associate(dest.host, dest.port, ae_title=dest.ae_title,
                                  ext_neg=roles or None, evt_handlers=handlers,
                                  tls_args=(tls, dest.host) if tls is not None else None)
        if not self.assoc.is_established:
            raise PacsError(f"PACS {dest.name} ({dest.ae_title}@{dest.host}:{dest.port}) "
                            "refused or did not answer the association; check its AE "
                            "title, and that it lets the gateway query (C-FIND) and "
                            "retrieve (C-GET)", reason=PacsFailure.REFUSED)
        # pynetdicom leaves Nagle's algorithm on: each small C-GET request then waits for a
        # delayed ACK (40 ms on loopback; PEERS.md), which made one C-GET per instance 8x slower
        with contextlib.suppress(AttributeError, OSError):
            sock: Any = self.assoc.dul.socket.socket  # type: ignore[union-attr]
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.accepted: dict[str, list[str]] = {}
        for pc in self.assoc.accepted_contexts:
            if str(pc.abstract_syntax) in self.proposed and pc.transfer_syntax:
                self.accepted.setdefault(str(pc.abstract_syntax), []).append(
                    str(pc.transfer_syntax[0]))

    def find(self, level: str, **keys: str) -> Iterator[Any]:
        from pydicom import Dataset

        ds = Dataset()
        ds.QueryRetrieveLevel = level
        for k, v in keys.items():
            setattr(ds, k, v)
        for status, ident in self.assoc.send_c_find(ds, self._find):
            code = int(status.Status) if status and "Status" in status else None
            if code in PENDING and ident is not None:
                yield ident
            elif code not in (Dimse.SUCCESS, *PENDING):
                raise PacsError(f"C-FIND at {level} level failed (status "
                                f"{'none' if code is None else hex(code)})",
                                reason=PacsFailure.QUERY_FAILED)

    def get(self, level: str, **keys: str) -> GetOutcome:
        from pydicom import Dataset

        ds = Dataset()
        ds.QueryRetrieveLevel = level
        for k, v in keys.items():
            setattr(ds, k, v)
        last: Any = None
        failed: frozenset[str] = frozenset()
        for status, ident in self.assoc.send_c_get(ds, self._get):
            if status is not None and "Status" in status:
                last = status
                if ident is not None and "FailedSOPInstanceUIDList" in ident:
                    value = ident.FailedSOPInstanceUIDList or []
                    failed = frozenset(str(u) for u in (
                        [value] if isinstance(value, str) else value))
        if last is None:
            if not self.assoc.is_established:
                return GetOutcome(None, error="the association ended during the C-GET "
                                  "(aborted or timed out)")
            return GetOutcome(None)
        code = int(last.Status)

        def count(keyword: str) -> int:
            return int(getattr(last, keyword, 0) or 0)

        return GetOutcome(code, count("NumberOfCompletedSuboperations"),
                          count("NumberOfFailedSuboperations"),
                          count("NumberOfWarningSuboperations"), failed)

    def offered(self, sop_class: str, recorded_ts: str) -> str:
        """What was proposed for ``sop_class`` and what the PACS accepted, in words."""
        proposed = list(dict.fromkeys(self.proposed.get(sop_class, [])))
        accepted = list(dict.fromkeys(self.accepted.get(sop_class, [])))
        others = [_short_ts(t) for t in proposed if t != recorded_ts]
        if recorded_ts in proposed:
            text = (f"{_sop_name(sop_class)} was proposed in {ts_name(recorded_ts)}, the "
                    f"transfer syntax it was recorded in")
            if others:
                text += f", and {len(others)} others ({', '.join(others)})"
        else:
            text = (f"{_sop_name(sop_class)} was proposed in {', '.join(others) or 'nothing'}"
                    f" (not in {ts_name(recorded_ts)}, the one it was recorded in)")
        if not accepted:
            return text + "; the PACS accepted none of them"
        if recorded_ts in proposed and recorded_ts not in accepted:
            text += f"; the PACS refused {_short_ts(recorded_ts)}"
            return text + f" and accepted {', '.join(_short_ts(t) for t in accepted)}"
        return text + f"; the PACS accepted {', '.join(_short_ts(t) for t in accepted)}"

    def close(self) -> None:
        if self.assoc.is_established:
            self.assoc.release()


def list_pacs(s: PacsAssociation, scope: Scope) -> list[Listed]:
    date = ""
    if scope.since or scope.until:
        date = f"{scope.since or ''}-{scope.until or ''}"
    study_keys = {"StudyInstanceUID": scope.study or ""}
    if date:
        study_keys["StudyDate"] = date
    # A PACS can answer one UID more than once (Orthanc keys a study by patient and study UID,
    # so one study UID under two patient IDs is two studies): each UID is taken once.
    out: dict[str, Listed] = {}
    studies = dict.fromkeys(str(st.StudyInstanceUID) for st in s.find("STUDY", **study_keys))
    for study in studies:
        series_uids = dict.fromkeys(str(se.SeriesInstanceUID) for se in
                                    s.find("SERIES", StudyInstanceUID=study, SeriesInstanceUID=""))
        for series in series_uids:
            for im in s.find("IMAGE", StudyInstanceUID=study, SeriesInstanceUID=series,
                             SOPInstanceUID=""):
                sop = str(im.SOPInstanceUID)
                out.setdefault(sop, Listed(study, series, sop))
    return list(out.values())


@dataclass(frozen=True)
class _Recorded:
    study: str
    sop_class: str
    transfer_syntax: str


def _ledger_scope(ledger: Ledger, scope: Scope, studies: set[str]) -> dict[str, _Recorded]:
    """SOP Instance UID -> study, SOP class and transfer syntax of the newest ledger entry of
    each instance in scope (repeated strings shared, as a ledger holds few distinct ones)."""
    newest: dict[str, _Recorded] = {}
    shared: dict[_Recorded, _Recorded] = {}
    for stored, _, _ in ledger.iter_entries():
        fp = stored.entry.fingerprint
        r = _Recorded(fp.study_instance_uid, fp.sop_class_uid, fp.transfer_syntax)
        newest[fp.sop_instance_uid] = shared.setdefault(r, r)
    if scope.study:
        return {u: r for u, r in newest.items() if r.study == scope.study}
    if scope.since or scope.until:
        return {u: r for u, r in newest.items() if r.study in studies}
    return newest


def verify_pacs(ledger: Ledger, profile: HeaderProfile, attr_key: bytes | None,
                dest: Destination, calling_aet: str, scope: Scope,
                progress: Callable[[int, int], None] | None = None) -> PacsReport:
    """List, compare and retrieve (module docstring); findings worst first."""
    seed = scope.seed if scope.seed is not None else random.SystemRandom().randrange(2**31)
    where = f"pacs:{dest.name}"
    findings: list[Discrepancy] = []
    session = PacsAssociation(dest, calling_aet, [])
    try:
        listed = list_pacs(session, scope)
    finally:
        session.close()
    expected = _ledger_scope(ledger, scope, {x.study for x in listed})
    listed_uids = {x.sop for x in listed}
    missing = sorted(set(expected) - listed_uids)
    for uid in missing:
        findings.append(Discrepancy(Status.MISSING, uid, where, "recorded in the ledger, not held "
                                    "by the PACS (C-FIND does not list it)"))
    for x in listed:
        if x.sop not in expected and (scope.study is None or x.study == scope.study):
            findings.append(Discrepancy(Status.UNRECORDED, x.sop, where, "held by the PACS but "
                                        "never recorded: the gateway never saw it"))
    chosen = [x for x in listed if x.sop in expected]
    if scope.sampled:
        assert scope.sample is not None
        k = max(1, round(len(chosen) * scope.sample)) if chosen else 0
        chosen = random.Random(seed).sample(chosen, k)
    del listed_uids
    retriever = _Retriever(ledger, profile, attr_key, dest, calling_aet, where, progress)
    findings += retriever.run(chosen, {x.sop: expected[x.sop] for x in chosen},
                              by_series=not scope.sampled)
    findings.sort(key=lambda f: (f.status is Status.INTACT, f.status.value, f.sop_instance_uid))
    return PacsReport(findings, seed, len(listed), len(missing), len(chosen))


@dataclass
class _Batch:
    """The instances one C-GET should return, with their ledger entries."""

    wanted: dict[str, Listed]
    current: dict[str, StoredEntry]
    done: set[str] = field(default_factory=set)


class _Retriever:
    """C-GET the chosen instances and compare each as it arrives (module docstring)."""

    def __init__(self, ledger: Ledger, profile: HeaderProfile, attr_key: bytes | None,
                 dest: Destination, calling_aet: str, where: str,
                 progress: Callable[[int, int], None] | None) -> None:
        self.ledger = ledger
        self.profile = profile
        self.attr_key = attr_key
        self.dest = dest
        self.calling_aet = calling_aet
        self.where = where
        self.progress = progress
        self.findings: list[Discrepancy] = []
        self.count = 0
        self.batch: _Batch | None = None
        self.tmp = Path(".")
        self.error: str | None = None  # a failure on our side while an instance arrived
        self.contexts: list[Context] = []
        self.assoc: PacsAssociation

    def run(self, chosen: list[Listed], recorded: dict[str, _Recorded],
            by_series: bool) -> list[Discrepancy]:
        pairs: dict[tuple[str, str], int] = {}
        for r in recorded.values():
            pairs[(r.sop_class, r.transfer_syntax)] = pairs.get(
                (r.sop_class, r.transfer_syntax), 0) + 1
        self.tmp = Path(tempfile.mkdtemp(prefix="pacsguard-pacs-"))
        try:
            for contexts in plan_contexts(pairs) if chosen else []:
                classes = {cx.sop_class for cx in contexts}
                todo = [x for x in chosen if recorded[x.sop].sop_class in classes]
                self._round(todo, recorded, contexts, by_series)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return self.findings

    def _round(self, todo: list[Listed], recorded: dict[str, _Recorded],
               contexts: list[Context], by_series: bool) -> None:
        self.contexts = contexts
        self.assoc = PacsAssociation(self.dest, self.calling_aet, contexts, self._store)
        try:
            series: dict[tuple[str, str], list[Listed]] = {}
            for x in todo:
                series.setdefault((x.study, x.series), []).append(x)
            for (study, uid), members in series.items():
                left, before = members, ""
                if by_series and len(members) > 1:
                    done, outcome = self._get(members, "SERIES", StudyInstanceUID=study,
                                              SeriesInstanceUID=uid)
                    left = [x for x in members if x.sop not in done]
                    before = f" (its series' C-GET answered {outcome.describe()})"
                for x in left:  # one by one: a sample, or what the series C-GET did not return
                    done, outcome = self._get([x], "IMAGE", StudyInstanceUID=study,
                                              SeriesInstanceUID=uid, SOPInstanceUID=x.sop)
                    if x.sop in done:
                        continue
                    r = recorded[x.sop]
                    self.findings.append(Discrepancy(
                        Status.CORRUPTED, x.sop, self.where,
                        "listed by the PACS but not returned by C-GET: "
                        f"{self.assoc.offered(r.sop_class, r.transfer_syntax)}; its C-GET "
                        f"answered {outcome.describe(x.sop)}{before}"))
                    self._advance(0)
        finally:
            self.assoc.close()

    def _get(self, members: list[Listed], level: str,
             **keys: str) -> tuple[set[str], GetOutcome]:
        """One C-GET expecting ``members``; which of them arrived, and the final answer.

        An association that ends during the C-GET (the PACS restarted, the network dropped)
        says nothing about the images: a new one is opened and the C-GET asked again (what
        already arrived is not compared twice). When that fails too, the run stops with an
        error (no verdict) rather than report images it could not ask for as corrupted."""
        wanted = {x.sop: x for x in members}
        batch = self.batch = _Batch(wanted, self.ledger.current(list(wanted)))
        try:
            for attempt in (1, 2):
                try:
                    outcome = self.assoc.get(level, **keys)
                except (OSError, RuntimeError, ValueError) as exc:
                    outcome = GetOutcome(None, error=f"the C-GET failed ({exc})")
                if self.error is not None:
                    raise PacsError(f"a retrieved instance could not be checked: "
                                    f"{self.error}; check the free space of "
                                    f"{self.tmp.parent}", reason=PacsFailure.LOCAL)
                if self.assoc.assoc.is_established:
                    return batch.done, outcome
                lost = (f"the association with PACS {self.dest.name} ended during a C-GET "
                        f"({outcome.describe()}) after {self.count} instances were checked")
                if attempt == 2:
                    raise PacsError(f"{lost}, and again on a new association; nothing is "
                                    "concluded about the rest: run verify --pacs again",
                                    reason=PacsFailure.ASSOCIATION_LOST)
                try:
                    self.assoc = PacsAssociation(self.dest, self.calling_aet, self.contexts,
                                                 self._store)
                except PacsError as exc:  # refused: PacsAssociation raises nothing else
                    raise PacsError(f"{lost}, and a new one failed ({exc}); nothing is "
                                    "concluded about the rest: run verify --pacs again",
                                    reason=PacsFailure.ASSOCIATION_LOST) from None
            raise AssertionError("unreachable")
        finally:
            self.batch = None

    def _advance(self, size: int) -> None:
        self.count += 1
        if self.progress is not None:
            self.progress(self.count, size)

    def _store(self, event: Any) -> int:
        """A C-STORE sub-operation: compare the instance if it is one the C-GET should
        return (others, e.g. unrecorded instances of the series, are dropped)."""
        batch = self.batch
        sop = str(event.request.AffectedSOPInstanceUID)
        if batch is None or sop not in batch.wanted or sop in batch.done:
            return Dimse.SUCCESS
        path = self.tmp / "received.dcm"
        try:
            data = event.encoded_dataset()
            path.write_bytes(data)
            self.findings.append(self._compare(sop, path, batch.current.get(sop)))
        except OSError as exc:  # our disk, not the PACS: the run stops and says so
            self.error = f"{exc.__class__.__name__}: {exc.strerror or exc}"
            return Dimse.OUT_OF_RESOURCES  # PS3.4 C.4.3.1.4 sub-operation
        finally:
            path.unlink(missing_ok=True)
        batch.done.add(sop)
        self._advance(len(data))
        return Dimse.SUCCESS

    def _compare(self, sop: str, path: Path, stored: StoredEntry | None) -> Discrepancy:
        where = self.where
        if stored is None:  # recorded when listed; a ledger only grows, so this is not expected
            return Discrepancy(Status.UNRECORDED, sop, where, "returned by the PACS; its ledger "
                               "entry could not be read")
        try:
            fp = fingerprint_file(path, self.profile, self.attr_key)
            # the file itself: a transfer syntax changed by the PACS is decoded and compared
            status, detail = compare(stored.entry.fingerprint,
                                     unpack_clinical_attrs(stored.clinical_attrs), fp, path,
                                     self.profile)
            return Discrepancy(status, sop, where, detail.replace(str(path), where))
        except DicomReadError as exc:
            return Discrepancy(Status.CORRUPTED, sop, where,
                               f"returned, but not readable: {exc}".replace(str(path), where))
