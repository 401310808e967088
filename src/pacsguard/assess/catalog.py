"""Every finding ``assess`` can raise: a stable id, its title, and the concrete remediation
(the Orthanc configuration key, the dcmtk option). The severity is decided where the check
runs, by the rule docs/assess.md gives for each id.

Ids are stable: reports, tickets and suppressions refer to them.
"""

from __future__ import annotations

from pacsguard.findings import Finding, Severity

_ORTHANC_ALLOW = ('Orthanc: list each permitted sender in "DicomModalities" (with '
                  '"DicomCheckModalityHost": true) and set "DicomAlwaysAllowEcho", '
                  '"DicomAlwaysAllowStore", "DicomAlwaysAllowFind", '
                  '"DicomAlwaysAllowFindWorklist", "DicomAlwaysAllowGet" and '
                  '"DicomAlwaysAllowMove" to false.')

CATALOG: dict[str, tuple[str, str]] = {
    "ASSOC-ANY-CALLING": (
        "Associations are accepted from any calling AE title",
        "Accept associations only from known senders. " + _ORTHANC_ALLOW + " dcmqrscp: name "
        "the permitted peers in the last column of each AETable line instead of ANY. "
        "dcmtk storescp has no allow-list: keep it off clinical networks or put a filtering "
        "gateway (pacsguard gateway with an allow-list) in front of it."),
    "ASSOC-ANY-CALLED": (
        "Any called AE title is accepted",
        'Make the node check the called AE title. Orthanc: "DicomCheckCalledAet": true. '
        "dcmqrscp checks it against the AETable. dcmtk storescp cannot: do not expose it."),
    "ASSOC-DEFAULT-CALLED": (
        "The node answers to a well-known default called AE title",
        'Give the node a site-specific AE title (Orthanc: "DicomAet"; dcmqrscp: the AETable '
        "entry; storescp: -aet) and configure it in the senders; a default title is the "
        "first thing an attacker's guessing list tries."),
    "ID-IMPLEMENTATION": (
        "Implementation identified",
        "Keep the identified implementation on a supported, patched version; record it in "
        "the asset register (pacsguard discover / inventory)."),
    "ADVISORY-MATCH": (
        "The identified version is affected by a published advisory",
        "Upgrade to a version the advisory names as fixed, or apply its mitigations; record "
        "the decision with 'pacsguard alerts decide'."),
    "ADVISORY-REVIEW": (
        "An advisory may apply to the identified version (needs review)",
        "Check the advisory's product and version text against the node by hand and record "
        "the decision."),
    "QR-FIND-OPEN": (
        "A wildcard study-level C-FIND from an unknown caller is answered",
        'Refuse queries from unknown callers. Orthanc: "DicomAlwaysAllowFind": false and '
        '"AllowFind" only for the modalities in "DicomModalities" that need it. dcmqrscp: '
        "name the permitted peers in the last column of the AETable line instead of ANY; "
        "a caller not listed there cannot associate, so cannot query."),
    "MWL-FIND-OPEN": (
        "A wildcard Modality Worklist C-FIND from an unknown caller is answered",
        'Orthanc: "DicomAlwaysAllowFindWorklist": false and "AllowFindWorklist" only for the '
        "modalities that need it. Other worklist servers: restrict the worklist to the "
        "scanners' AE titles and addresses."),
    "QR-MOVE-ANY-DEST": (
        "C-MOVE to an arbitrary destination AE title is accepted",
        'Send only to configured destinations. Orthanc only moves to "DicomModalities" '
        '(keep "DicomAlwaysAllowMove": false). dcmqrscp: list destinations in the HostTable '
        "only, and restrict moves with -ZA (--move-aetitle) or -ZH (--move-host)."),
    "QR-GET-OPEN": (
        "C-GET from an unknown caller is processed",
        'Refuse retrieval by unknown callers. Orthanc: "DicomAlwaysAllowGet": false and '
        '"AllowGet" only where needed. dcmqrscp: --disable-get, or restrict the AETable '
        "peers."),
    "STORE-ANY-CALLER": (
        "C-STORE from an unknown caller is accepted",
        'Orthanc: "DicomAlwaysAllowStore": false, senders listed in "DicomModalities" '
        '(with "DicomCheckModalityHost": true). dcmqrscp: AETable peers instead of ANY, '
        "and RW only where needed. storescp accepts every sender: do not expose it."),
    "STORE-INTO-EXISTING": (
        "An unknown caller can add instances to an existing study",
        "Only known senders may store (see STORE-ANY-CALLER); where the product allows, "
        "reject instances whose patient identity conflicts with the study they join, and "
        "alert on studies that grow after they were reported."),
    "CLEANUP-INCOMPLETE": (
        "Test instances left on the node",
        "Delete the listed test study by its Study Instance UID (patient ID "
        "PACSGUARD-TEST-...); in Orthanc: DELETE /studies/{id} after /tools/lookup."),
    "QUERY-ERROR-ON-METACHARS": (
        "C-FIND with SQL meta-characters in Patient ID errs or stalls",
        "Query values must reach the database as bound parameters, never as SQL text; ask "
        "the vendor for a fix and restrict C-FIND to known callers meanwhile."),
    "QUERY-INJECTION": (
        "SQL meta-characters in Patient ID change what a C-FIND matches",
        "Treat as an SQL injection: restrict C-FIND to known callers now (see QR-FIND-OPEN) "
        "and escalate to the vendor; query values must be bound parameters."),
    "QUERY-LIKE-WILDCARD": (
        "SQL LIKE wildcards in Patient ID widen what a C-FIND matches",
        "Have the vendor escape % and _ before a LIKE (DICOM wildcards are * and ?, PS3.4 "
        "C.2.2.2.4); restrict C-FIND to known callers (see QR-FIND-OPEN)."),
    "TLS-ABSENT": (
        "No TLS: DICOM runs over plain TCP",
        'Enable DICOM TLS (PS3.15 Annex B). Orthanc: "DicomTlsEnabled": true with '
        '"DicomTlsCertificate", "DicomTlsPrivateKey", "DicomTlsTrustedCertificates". dcmtk: '
        "+tls KEY CERT with +cf CA (key before certificate)."),
    "TLS-PLAIN-ALONGSIDE": (
        "Plain TCP is accepted alongside TLS",
        "Close the plain DICOM port once senders use TLS (Orthanc serves TLS on \"DicomPort\" "
        "when \"DicomTlsEnabled\" is true; remove any plain listener kept for migration)."),
    "TLS-NO-CLIENT-CERT": (
        "TLS does not require a client certificate",
        'Require and verify client certificates. Orthanc: "DicomTlsRemoteCertificateRequired"'
        ': true and "DicomTlsTrustedCertificates". dcmtk: -rc (--require-peer-cert, the '
        "default) with +cf CA; never -ic."),
    "TLS-WEAK-PROTOCOL": (
        "TLS 1.0 or 1.1 is accepted",
        "Accept TLS 1.2 and 1.3 only. dcmtk: +py (--profile-bcp195-nd, the default); "
        'Orthanc: "DicomTlsMinimumProtocolVersion" (Orthanc 1.12.4 and later) or the dcmtk profile '
        "it is built with."),
    "TLS-WEAK-CIPHER": (
        "A weak TLS cipher suite is accepted",
        "Offer only AEAD suites with forward secrecy (BCP 195). dcmtk: +py or +px, no +cs "
        "with weak suites; Orthanc: \"DicomTlsCiphersAccepted\" (Orthanc 1.12.4 and later)."),
    "TLS-CERT-EXPIRED": (
        "The TLS certificate has expired",
        "Issue a new certificate and install it (Orthanc: \"DicomTlsCertificate\"; dcmtk: "
        "+tls KEY CERT); monitor expiry."),
    "TLS-CERT-NOT-YET-VALID": (
        "The TLS certificate is not valid yet",
        "Check the node's clock and the certificate's notBefore date."),
    "TLS-CERT-EXPIRING": (
        "The TLS certificate expires within 30 days",
        "Renew the certificate before it expires."),
    "TLS-CERT-NAME-MISMATCH": (
        "The TLS certificate does not name the host",
        "Issue the certificate with a subjectAltName naming the host name or address senders "
        "use."),
    "TLS-CERT-UNTRUSTED": (
        "The TLS certificate does not verify against the given CA",
        "Install a certificate issued by the site's CA (the one given with --tls-ca)."),
    "TLS-WEAK-KEY": (
        "The TLS certificate's key is too short",
        "Use RSA 2048 bits or more, or an EC key of 256 bits or more."),
    "TLS-WEAK-SIGNATURE": (
        "The TLS certificate is signed with MD5 or SHA-1",
        "Reissue the certificate signed with SHA-256 or better."),
    "WEB-NO-AUTH": (
        "A web API answers without authentication",
        'Orthanc: "AuthenticationEnabled": true with "RegisteredUsers" (or an authorization '
        'plugin), and "RemoteAccessAllowed": false unless needed; put DICOMweb and WADO '
        "behind authentication."),
    "WEB-PLAIN-HTTP": (
        "The web API is served over plain HTTP",
        'Serve it over HTTPS only (Orthanc: "SslEnabled": true, "SslCertificate"), or behind '
        "a TLS reverse proxy."),
    "FUZZ-CRASH": (
        "A malformed message crashed the node",
        "Report the reproducer to the vendor; until fixed, allow only known senders to reach "
        "the port (network filtering, a gateway) and monitor the service."),
    "FUZZ-HANG": (
        "A malformed message made the node stop answering",
        "Report the reproducer to the vendor; set association and network timeouts (dcmtk: "
        "-ta, -td, -to; Orthanc: \"DicomScpTimeout\") and restrict who can connect."),
}


def finding(fid: str, severity: Severity, evidence: str, subject: str) -> Finding:
    title, remediation = CATALOG[fid]
    return Finding(fid, severity, title, evidence, remediation, subject)
