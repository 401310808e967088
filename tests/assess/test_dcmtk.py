"""``assess`` against dcmtk's dcmqrscp (an archive) and storescp (plain and TLS) on loopback."""

from __future__ import annotations

from pathlib import Path

import pydicom

from pacsguard.assess.report import to_json
from pacsguard.assess.runner import assess
from pacsguard.assess.testdata import TEST_DESCRIPTION, TEST_PATIENT_NAME
from pacsguard.findings import Severity
from pacsguard.render.html import assessment_page
from tests.assess.targets import ARCHIVE, SAMPLES, dcmqrscp_peer, make_cert, options
from tests.peers import storescp


def _facts(a: object, family: str) -> dict[str, str]:
    from pacsguard.assess.model import Assessment

    assert isinstance(a, Assessment)
    [s] = [s for s in a.sections if s.family == family]
    return {f.name: f.value for f in s.facts}


def test_dcmqrscp_exposes_its_archive_to_any_caller_and_only_counts_are_kept(
        dcmqrscp: int) -> None:
    a = assess(options(dcmqrscp))
    by_id = {f.id: f for f in a.findings}
    assert {"QR-FIND-OPEN", "QR-GET-OPEN", "ASSOC-ANY-CALLING", "ASSOC-DEFAULT-CALLED",
            "TLS-ABSENT"} <= set(by_id)
    assert "returned 3 records" in by_id["QR-FIND-OPEN"].evidence
    assert "PatientName" in by_id["QR-FIND-OPEN"].evidence  # the keyword, not the value
    assert "'DCMQRSCP'" in by_id["ASSOC-DEFAULT-CALLED"].evidence
    # restricting the AETable peers is the fix; --require-find is not about C-FIND at all
    assert "AETable" in by_id["QR-FIND-OPEN"].remediation
    assert "--require-find" not in by_id["QR-FIND-OPEN"].remediation
    # anyone can read the archive, and it travels unencrypted: TLS-ABSENT is high
    assert by_id["TLS-ABSENT"].severity is Severity.HIGH
    # dcmqrscp answers Success for a study that does not exist; without --allow-write no
    # study is moved, not even to find out: the destination check is undetermined
    assert "QR-MOVE-ANY-DEST" not in by_id
    exposure = _facts(a, "exposure")
    assert exposure["C-MOVE destination check"].startswith("undetermined")
    assert not [k for k in exposure if "C-FIND listed" in k or "test study" in k]
    # its database binds values: metacharacters change nothing
    assert not {"QUERY-INJECTION", "QUERY-ERROR-ON-METACHARS"} & set(by_id)
    # no value from the archive appears anywhere in what pacsguard produced
    out = to_json(a) + assessment_page(a)
    for name in ARCHIVE:
        ds = pydicom.dcmread(SAMPLES / name)
        for key in ("PatientName", "PatientID", "StudyInstanceUID", "AccessionNumber",
                    "PatientBirthDate", "StudyDescription"):
            value = str(ds.get(key, "") or "")
            if len(value) > 2:
                assert value not in out, f"{key} of {name} leaked into the report"


def test_with_allow_write_the_c_move_probe_uses_pacsguards_own_test_study(
        tmp_path: Path) -> None:
    with dcmqrscp_peer(tmp_path / "dcmqrscp") as port:
        a = assess(options(port, allow_write=True))
    by_id = {f.id: f for f in a.findings}
    assert "STORE-ANY-CALLER" in by_id  # the write checks ran first and stored it
    exposure = _facts(a, "exposure")
    # the test study was counted out of the C-FIND: the archive's three studies remain
    assert "3 matches" in exposure["C-FIND"] and "pacsguard's test records" in exposure["C-FIND"]
    assert "returned 3 records" in by_id["QR-FIND-OPEN"].evidence
    # dcmqrscp refuses to send the test study to a destination it does not know
    assert "0xA801" in exposure["C-MOVE (pacsguard's test study)"]
    assert "QR-MOVE-ANY-DEST" not in by_id
    # DICOM has no delete: the test study stays, and that is not a pass
    assert by_id["CLEANUP-INCOMPLETE"].severity is Severity.MEDIUM


def test_storescp_takes_anything_from_anyone_and_what_it_kept_is_labelled_and_reported(
        tmp_path: Path) -> None:
    with storescp(tmp_path, aet="STORESCP") as port:
        a = assess(options(port, allow_write=True))
    by_id = {f.id: f for f in a.findings}
    ids = set(by_id)
    assert {"ASSOC-ANY-CALLED", "ASSOC-ANY-CALLING", "STORE-ANY-CALLER",
            "STORE-INTO-EXISTING", "TLS-ABSENT", "CLEANUP-INCOMPLETE"} <= ids
    # a fake patient left in an archive is at least medium
    assert by_id["CLEANUP-INCOMPLETE"].severity is Severity.MEDIUM
    kept = sorted((tmp_path / "received").iterdir())
    assert len(kept) == 2
    for f in kept:
        ds = pydicom.dcmread(f)
        assert str(ds.PatientName) == TEST_PATIENT_NAME
        assert ds.StudyDescription == TEST_DESCRIPTION
        assert ds.PatientID.startswith("PACSGUARD-TEST-")
        assert ds.StudyInstanceUID.startswith("2.25.")
        assert ds.SOPInstanceUID in to_json(a)  # reported, so the site can delete it


def test_tls_that_asks_for_no_client_certificate_is_reported(tmp_path: Path) -> None:
    pair = make_cert(tmp_path / "certs", "storescp")
    with storescp(tmp_path, tls=(pair.key, pair.cert)) as port:
        a = assess(options(port))
    ids = {f.id for f in a.findings}
    assert "TLS-NO-CLIENT-CERT" in ids
    assert not ids & {"TLS-ABSENT", "TLS-PLAIN-ALONGSIDE", "TLS-CERT-EXPIRED",
                      "TLS-WEAK-PROTOCOL", "TLS-CERT-NAME-MISMATCH"}
    [policy] = [s for s in a.sections if s.family == "policy"]
    assert {f.name: f.value for f in policy.facts}["channel"].endswith("over TLS")


def test_an_expired_certificate_and_plain_dicom_beside_tls_are_reported(
        tmp_path: Path) -> None:
    pair = make_cert(tmp_path / "certs", "old", expired=True)
    with storescp(tmp_path / "tls", tls=(pair.key, pair.cert)) as tls_port, \
            storescp(tmp_path / "plain") as plain_port:
        a = assess(options(plain_port, tls_port=tls_port))
    ids = {f.id for f in a.findings}
    assert {"TLS-CERT-EXPIRED", "TLS-PLAIN-ALONGSIDE"} <= ids
    assert "TLS-ABSENT" not in ids


def test_tls_versions_a_missing_client_certificate_hides_leave_transport_incomplete(
        tmp_path: Path) -> None:
    """storescp with an RSA certificate requires a client certificate: without one, TLS 1.2
    ends in a handshake_failure alert, the same alert as a refused version; so TLS 1.2 is
    'not determined' and the transport section incomplete, never 'refused'. With the
    certificate, TLS 1.2 is accepted and the section complete."""
    from pacsguard.assess.model import TlsClient

    server = make_cert(tmp_path / "certs", "storescp", rsa=True)
    client = make_cert(tmp_path / "certs", "pacsguard-client", rsa=True)
    with storescp(tmp_path, tls=(server.key, server.cert), client_ca=client.cert) as port:
        without = assess(options(port))
        given = assess(options(port, tls=TlsClient(client.cert, client.key)))
    [transport] = [s for s in without.sections if s.family == "transport"]
    facts = {f.name: f.value for f in transport.facts}
    assert facts[f"client certificate ({port})"].startswith("required")
    assert facts[f"TLS 1.2 ({port})"] == (
        "not determined: the handshake ended with SSLV3_ALERT_HANDSHAKE_FAILURE, and the node "
        "requires a client certificate that was not given")
    assert transport.incomplete and "TLS 1.2" in transport.gap and "--tls-cert" in transport.gap
    assert not without.complete and without.exit_status == 2
    assert without.as_dict()["incomplete_checks"][-1]["why"] == transport.gap
    assert f"Incomplete: {transport.gap}" in assessment_page(without)
    [transport] = [s for s in given.sections if s.family == "transport"]
    facts = {f.name: f.value for f in transport.facts}
    assert facts[f"TLS 1.2 ({port})"].startswith("accepted")
    assert not transport.incomplete and not transport.gap
