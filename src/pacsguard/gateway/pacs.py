"""``pacsguard verify --pacs NAME``: check what the PACS holds against the ledger (docs/gateway.md).

Only the destination named in the gateway's configuration is contacted, with one association:

1. **List** (C-FIND, Study Root): studies (all, one ``--study``, or those whose Study Date falls
   in ``--since``/``--until``), then their series, then their instances.
2. **Compare the lists** with the ledger, by SOP Instance UID: ``missing`` = recorded but not
   listed by the PACS; ``unrecorded`` = listed but never recorded (the gateway never saw it).
   The ledger side is scoped like the query: one study; the studies found in a date range (the
   ledger holds no examination dates, so a study deleted whole is only found by a run without
   a date range); or everything.
3. **Retrieve** (C-GET, into a private temporary folder) every listed instance, or a random
   ``--sample`` of them (the seed is printed, so a run can be repeated), fingerprint each and
   compare with its ledger entry: ``intact``, ``pixels_altered``, ``header_altered``,
   ``identity_altered``; listed but not returned, or not DICOM: ``corrupted``.
"""

from __future__ import annotations

import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacsguard.errors import DicomReadError, PacsguardError
from pacsguard.gateway.config import Destination
from pacsguard.integrity.fingerprint import fingerprint_file
from pacsguard.integrity.ledger import Ledger, unpack_clinical_attrs
from pacsguard.integrity.profile import HeaderProfile
from pacsguard.integrity.status import Finding, Status, compare

PENDING = (0xFF00, 0xFF01)


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


class PacsSession:
    """One association to the PACS offering C-FIND, C-GET and the storage classes C-GET
    returns (as SCP role)."""

    def __init__(self, dest: Destination, calling_aet: str, into: Path) -> None:
        from pydicom.uid import (
            DeflatedExplicitVRLittleEndian,
            ExplicitVRLittleEndian,
            ImplicitVRLittleEndian,
            JPEG2000Lossless,
            JPEGLSLossless,
            RLELossless,
        )
        from pynetdicom import AE, StoragePresentationContexts, build_role, evt
        from pynetdicom.sop_class import (  # type: ignore[attr-defined]
            StudyRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelGet,
        )

        self.into = into
        self.received: dict[str, Path] = {}
        self._find = StudyRootQueryRetrieveInformationModelFind
        self._get = StudyRootQueryRetrieveInformationModelGet
        ae = AE(ae_title=calling_aet)
        ae.add_requested_context(self._find)
        ae.add_requested_context(self._get)
        syntaxes = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
                    RLELossless, JPEGLSLossless, JPEG2000Lossless]
        roles: list[Any] = []
        for cx in StoragePresentationContexts[:126]:  # 128 contexts at most, 2 used above
            if cx.abstract_syntax is None:
                continue
            ae.add_requested_context(cx.abstract_syntax, syntaxes)
            roles.append(build_role(cx.abstract_syntax, scp_role=True))
        ae.acse_timeout = ae.network_timeout = ae.connection_timeout = dest.timeout_seconds
        ae.dimse_timeout = max(dest.timeout_seconds, 30.0)
        tls = dest.ssl_context()
        self.assoc = ae.associate(dest.host, dest.port, ae_title=dest.ae_title,
                                  ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, self._store)],
                                  tls_args=(tls, dest.host) if tls is not None else None)
        if not self.assoc.is_established:
            raise PacsguardError(f"PACS {dest.name} ({dest.ae_title}@{dest.host}:{dest.port}) "
                                 "refused or did not answer the association; check its AE "
                                 "title, and that it lets the gateway query (C-FIND) and "
                                 "retrieve (C-GET)")

    def _store(self, event: Any) -> int:
        sop = str(event.request.AffectedSOPInstanceUID)
        path = self.into / f"{len(self.received):08d}.dcm"
        path.write_bytes(event.encoded_dataset())
        self.received[sop] = path
        return 0x0000

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
            elif code not in (0x0000, *PENDING):
                raise PacsguardError(f"C-FIND at {level} level failed (status "
                                     f"{'none' if code is None else hex(code)})")

    def get(self, level: str, **keys: str) -> None:
        from pydicom import Dataset

        ds = Dataset()
        ds.QueryRetrieveLevel = level
        for k, v in keys.items():
            setattr(ds, k, v)
        for _status, _ident in self.assoc.send_c_get(ds, self._get):
            pass

    def close(self) -> None:
        if self.assoc.is_established:
            self.assoc.release()


def list_pacs(s: PacsSession, scope: Scope) -> list[Listed]:
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


def _ledger_scope(ledger: Ledger, scope: Scope, studies: set[str]) -> dict[str, str]:
    """SOP Instance UID -> study UID of the newest ledger entry of each instance in scope."""
    newest: dict[str, str] = {}
    for stored, _, _ in ledger.iter_entries():
        fp = stored.entry.fingerprint
        newest[fp.sop_instance_uid] = fp.study_instance_uid
    if scope.study:
        return {u: s for u, s in newest.items() if s == scope.study}
    if scope.since or scope.until:
        return {u: s for u, s in newest.items() if s in studies}
    return newest


def verify_pacs(ledger: Ledger, profile: HeaderProfile, attr_key: bytes | None,
                dest: Destination, calling_aet: str, scope: Scope,
                progress: Callable[[int, int], None] | None = None,
                ) -> tuple[list[Finding], int]:
    """Findings (worst first) and the seed used for sampling."""
    seed = scope.seed if scope.seed is not None else random.SystemRandom().randrange(2**31)
    tmp = Path(tempfile.mkdtemp(prefix="pacsguard-pacs-"))
    where = f"pacs:{dest.name}"
    findings: list[Finding] = []
    try:
        session = PacsSession(dest, calling_aet, tmp)
        try:
            listed = list_pacs(session, scope)
            expected = _ledger_scope(ledger, scope, {x.study for x in listed})
            listed_uids = {x.sop for x in listed}
            for uid in sorted(set(expected) - listed_uids):
                findings.append(Finding(Status.MISSING, uid, where, "recorded in the ledger, "
                                        "not held by the PACS (C-FIND does not list it)"))
            for x in listed:
                if x.sop not in expected and (scope.study is None or x.study == scope.study):
                    findings.append(Finding(Status.UNRECORDED, x.sop, where, "held by the "
                                            "PACS but never recorded: the gateway never saw it"))
            recorded = [x for x in listed if x.sop in expected]
            chosen = recorded
            if scope.sample is not None and scope.sample < 1:
                k = max(1, round(len(recorded) * scope.sample)) if recorded else 0
                chosen = random.Random(seed).sample(recorded, k)
            findings += _retrieve_and_compare(ledger, profile, attr_key, session, chosen,
                                              where, progress)
        finally:
            session.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    findings.sort(key=lambda f: (f.status is Status.INTACT, f.status.value, f.sop_instance_uid))
    return findings, seed


def _retrieve_and_compare(ledger: Ledger, profile: HeaderProfile, attr_key: bytes | None,
                          session: PacsSession, chosen: list[Listed], where: str,
                          progress: Callable[[int, int], None] | None) -> list[Finding]:
    out = []
    current = ledger.current([x.sop for x in chosen])
    for n, x in enumerate(chosen, 1):
        session.get("IMAGE", StudyInstanceUID=x.study, SeriesInstanceUID=x.series,
                    SOPInstanceUID=x.sop)
        path = session.received.pop(x.sop, None)
        if progress is not None:
            progress(n, path.stat().st_size if path else 0)
        if path is None:
            out.append(Finding(Status.CORRUPTED, x.sop, where, "listed by the PACS but not "
                               "returned by C-GET"))
            continue
        try:
            fp = fingerprint_file(path, profile, attr_key)
            stored = current[x.sop]
            # the file itself: a transfer syntax changed by the PACS is decoded and compared
            status, detail = compare(stored.entry.fingerprint,
                                     unpack_clinical_attrs(stored.clinical_attrs), fp, path,
                                     profile)
            out.append(Finding(status, x.sop, where, detail.replace(str(path), where)))
        except DicomReadError as exc:
            out.append(Finding(Status.CORRUPTED, x.sop, where,
                               f"returned, but not readable: {exc}".replace(str(path), where)))
        finally:
            path.unlink(missing_ok=True)
    return out
