"""Transport: is DICOM protected by TLS (PS3.15 Annex B, BCP 195), and how well?

On the node's port, and on ``--tls-port`` when given (same host), paced by ``--rate``:

* one handshake with the client's defaults (best protocol, cipher, the certificate), then
  one pinned to each of TLS 1.0, 1.1, 1.2 and 1.3 (a version the local OpenSSL cannot speak
  is reported as not testable), then, where TLS 1.2 or lower is accepted, one per weak suite
  class the local OpenSSL offers (anonymous, NULL encryption, static RSA key exchange);
* **client certificate required?** After a handshake *without* a client certificate, one
  A-ASSOCIATE-RQ: a DICOM answer means the node talks to anyone holding no certificate; an
  alert (``certificate required``) means it insists. Then a version whose handshake ended in
  an alert other than ``protocol_version`` is *not determined* when no client certificate was
  given (``--tls-cert``/``--tls-key``): TLS 1.2 and older end a handshake without the
  required certificate with ``handshake_failure``, the same alert as an unsupported version
  or cipher. The section is then incomplete (no verdict), not a list of refusals;
* **the certificate**: validity dates, remaining days, whether it names the host (subject
  alternative names, else the common name), key size, signature hash, and, with ``--tls-ca``,
  whether it verifies against that CA;
* **plain TCP alongside TLS**: the association policy's plain-TCP answer. Plain DICOM and
  TLS both answering: ``TLS-PLAIN-ALONGSIDE``; plain DICOM and no TLS anywhere: ``TLS-ABSENT``,
  medium, or high when the data-exposure checks found that an unknown caller can query or
  retrieve (then what crosses the network unencrypted is patient data anyone can ask for).

A certificate that cannot be parsed (malformed, an algorithm the local ``cryptography`` does
not know) is a fact, not a failure of the run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pacsguard.assess.catalog import finding
from pacsguard.assess.model import Fact, Options, Section
from pacsguard.assess.net import (
    Channel,
    Pacer,
    Reply,
    associate_rq,
    looking_context,
    nodelay,
    random_aet,
    read_answer,
    tls_reason,
)
from pacsguard.assess.policy import Access
from pacsguard.dicom.pdu import Proposal
from pacsguard.dicom.uids import VERIFICATION
from pacsguard.findings import Finding, Severity

if TYPE_CHECKING:
    from cryptography import x509

#: alerts that refuse the protocol version itself, whatever the certificates (RFC 8446 §6.2)
VERSION_ALERTS = ("PROTOCOL_VERSION", "WRONG_VERSION_NUMBER", "INAPPROPRIATE_FALLBACK")
FAMILY = "transport"
TITLE = "Transport security (TLS)"
EXPIRY_WARNING_DAYS = 30
VERSIONS = (("TLS 1.0", "TLSv1"), ("TLS 1.1", "TLSv1_1"), ("TLS 1.2", "TLSv1_2"),
            ("TLS 1.3", "TLSv1_3"))
WEAK_SUITES = (("anonymous key exchange (aNULL)", "aNULL", Severity.HIGH),
               ("no encryption (eNULL)", "eNULL", Severity.HIGH),
               ("static RSA key exchange, no forward secrecy (kRSA)", "kRSA", Severity.LOW),
               ("export-grade (EXPORT)", "EXPORT", Severity.HIGH),
               ("RC4", "RC4", Severity.MEDIUM), ("triple DES (3DES)", "3DES", Severity.MEDIUM))


@dataclass(frozen=True)
class Handshake:
    ok: bool
    tls: bool  # the other side spoke TLS (a completed handshake or a TLS alert)
    version: str = ""
    cipher: str = ""
    certificate: bytes = b""
    detail: str = ""


@dataclass
class PortReport:
    port: int
    default: Handshake
    versions: dict[str, str] = field(default_factory=dict)  # label -> result
    weak: list[tuple[str, Severity, str]] = field(default_factory=list)
    client_cert: str = ""  # required / not required / undetermined (why)
    #: versions whose handshake ended in a TLS alert that does not say "this version": when
    #: the node requires a client certificate and none was given, the alert may be about the
    #: certificate (TLS 1.2 and lower end the handshake with handshake_failure, RFC 5246
    #: §7.4.6), so the version's answer is not known
    alerted: dict[str, str] = field(default_factory=dict)  # label -> the alert


def _context(client: Options | None, version: str | None = None,
             ciphers: str | None = None) -> ssl.SSLContext:
    ctx = looking_context(client.tls if client is not None else None)
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            v = getattr(ssl.TLSVersion, version)
            ctx.minimum_version = v
            ctx.maximum_version = v
        if v < ssl.TLSVersion.TLSv1_2:
            ctx.set_ciphers("ALL:@SECLEVEL=0")
    if ciphers is not None:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers + ":@SECLEVEL=0")
    return ctx


def _alert(exc: BaseException) -> bool:
    """A TLS alert from the other side: it speaks TLS, it just did not agree."""
    return "ALERT" in tls_reason(exc).upper()


def handshake(address: str, port: int, ctx: ssl.SSLContext, timeout: float,
              pacer: Pacer) -> Handshake:
    pacer.wait()
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        return Handshake(False, False, detail=f"no connection ({exc.strerror or exc})")
    nodelay(raw)
    try:
        with ctx.wrap_socket(raw, server_hostname=None) as s:
            cipher = s.cipher()
            return Handshake(True, True, s.version() or "", cipher[0] if cipher else "",
                             s.getpeercert(binary_form=True) or b"")
    except ssl.SSLError as exc:
        return Handshake(False, _alert(exc), detail=tls_reason(exc))
    except (OSError, TimeoutError) as exc:
        return Handshake(False, False, detail=str(exc) or exc.__class__.__name__)
    finally:
        with contextlib.suppress(OSError):
            raw.close()


def client_certificate_required(channel: Channel, options: Options, pacer: Pacer,
                                called: str) -> str:
    """'required', 'not required', or 'undetermined: why' (no client certificate is sent)."""
    pacer.wait()
    ctx = looking_context()
    try:
        raw = socket.create_connection((channel.address, channel.port),
                                       timeout=options.timeout)
    except OSError as exc:
        return f"undetermined: no connection ({exc.strerror or exc})"
    nodelay(raw)
    proposals = [Proposal(VERIFICATION)]
    try:
        try:
            s = ctx.wrap_socket(raw, server_hostname=None)
        except ssl.SSLError as exc:
            if _alert(exc):
                return ("required (the handshake fails without one: "
                        f"{tls_reason(exc)})")
            return f"undetermined: {tls_reason(exc)}"
        with s:
            try:
                s.sendall(associate_rq(called, random_aet(), proposals))
            except ssl.SSLError as exc:
                return ("required (the node ended TLS when no certificate was sent: "
                        f"{tls_reason(exc)})")
            except OSError as exc:
                return f"undetermined: {exc}"
            answer = read_answer(s, proposals, options.timeout)
            if answer.dicom:
                return f"not required (an A-ASSOCIATE-RQ without one was {answer.describe()})"
            if answer.outcome == Reply.TLS_ERROR and "CERTIFICATE" in answer.detail.upper():
                return f"required ({answer.detail})"
            if answer.outcome in (Reply.TLS_ERROR, Reply.CLOSED):
                return ("required (the node ended TLS when no certificate was sent: "
                        f"{answer.detail})")
            return f"undetermined: {answer.describe()}"
    finally:
        with contextlib.suppress(OSError):
            raw.close()


def _port_report(address: str, port: int, options: Options, pacer: Pacer) -> PortReport:
    t = options.timeout
    default = handshake(address, port, _context(options), t, pacer)
    report = PortReport(port, default)
    if not default.tls:
        return report
    for label, name in VERSIONS:
        if not hasattr(ssl.TLSVersion, name):
            report.versions[label] = "not testable here"
            continue
        try:
            ctx = _context(options, name)
        except (ssl.SSLError, ValueError) as exc:
            report.versions[label] = f"not testable with the local OpenSSL ({exc})"
            continue
        h = handshake(address, port, ctx, t, pacer)
        if h.ok:
            report.versions[label] = f"accepted ({h.cipher})"
        elif not h.tls and any(local in h.detail.upper() for local in (
                "NO_PROTOCOLS_AVAILABLE", "UNSUPPORTED_PROTOCOL")):
            report.versions[label] = "not testable with the local OpenSSL"
        else:
            report.versions[label] = f"refused ({h.detail})"
            if h.tls and not any(v in h.detail.upper() for v in VERSION_ALERTS):
                report.alerted[label] = h.detail
    legacy = any(report.versions.get(label, "").startswith("accepted")
                 for label in ("TLS 1.0", "TLS 1.1", "TLS 1.2"))
    if legacy:
        for label, spec, sev in WEAK_SUITES:
            try:
                ctx = _context(options, ciphers=spec)
            except ssl.SSLError:
                report.weak.append((label, sev, "not testable with the local OpenSSL"))
                continue
            h = handshake(address, port, ctx, t, pacer)
            report.weak.append((label, sev, f"accepted ({h.cipher})" if h.ok else "refused"))
    return report


def _names(cert: object) -> tuple[list[str], list[str]]:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    assert isinstance(cert, x509.Certificate)
    dns: list[str] = []
    ips: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in san.get_values_for_type(x509.DNSName)]
        ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    if not dns and not ips:
        dns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return dns, ips


def _host_matches(host: str, address: str, dns: list[str], ips: list[str]) -> bool:
    try:
        ipaddress.ip_address(host)
        return address in ips or host in ips
    except ValueError:
        pass
    h = host.lower().rstrip(".")
    for name in (d.lower().rstrip(".") for d in dns):
        if name == h or (name.startswith("*.") and h.count(".") >= 2
                         and h.split(".", 1)[1] == name[2:]):
            return True
    return address in ips


def _unreadable() -> tuple[type[Exception], ...]:
    """What ``cryptography`` raises for a certificate it cannot read: ValueError (malformed
    DER, dates, names or extensions), UnsupportedAlgorithm (a key or signature algorithm it
    does not know)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    return (ValueError, UnsupportedAlgorithm)


def _why(exc: Exception) -> str:
    text = str(exc)
    return f"{exc.__class__.__name__}: {text[:160]}{'…' if len(text) > 160 else ''}"


def _certificate(der: bytes, port: int, options: Options, pacer: Pacer,
                 facts: list[Fact], findings: list[Finding]) -> None:
    """Facts and findings about the node's certificate; one that cannot be parsed, in whole
    or in part, is recorded as a fact."""
    from cryptography import x509

    name = f"certificate ({port})"
    try:
        cert = x509.load_der_x509_certificate(der)
        after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
        dns, ips = _names(cert)
        described = (f"subject {cert.subject.rfc4514_string()}; issuer "
                     f"{cert.issuer.rfc4514_string()}"
                     f"{' (self-signed)' if cert.issuer == cert.subject else ''}; valid "
                     f"{before.date().isoformat()} to {after.date().isoformat()}; names "
                     f"{', '.join(dns + ips) or 'none'}")
    except _unreadable() as exc:
        facts.append(Fact(name, f"could not be parsed ({_why(exc)}); its dates, names, key "
                          "and signature were not checked"))
        _verify(port, options, pacer, facts, findings)
        return
    facts.append(Fact(name, described))
    _judge(cert, dns, ips, port, options, facts, findings)
    _verify(port, options, pacer, facts, findings)


def _judge(cert: x509.Certificate, dns: list[str], ips: list[str], port: int,
           options: Options, facts: list[Fact], findings: list[Finding]) -> None:
    """Dates, names, key size and signature hash of a parsed certificate."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    subject = f"{options.target.address}:{port}"
    now = dt.datetime.now(dt.UTC)
    after, before = cert.not_valid_after_utc, cert.not_valid_before_utc
    if after < now:
        findings.append(finding("TLS-CERT-EXPIRED", Severity.HIGH,
                                f"The certificate expired on {after.isoformat()} "
                                f"({(now - after).days} days ago).", subject))
    elif before > now:
        findings.append(finding("TLS-CERT-NOT-YET-VALID", Severity.MEDIUM,
                                f"The certificate is valid only from {before.isoformat()}.",
                                subject))
    elif after - now < dt.timedelta(days=EXPIRY_WARNING_DAYS):
        findings.append(finding("TLS-CERT-EXPIRING", Severity.LOW,
                                f"The certificate expires on {after.isoformat()} "
                                f"(in {(after - now).days} days).", subject))
    if not _host_matches(options.target.host, options.target.address, dns, ips):
        findings.append(finding("TLS-CERT-NAME-MISMATCH", Severity.LOW,
                                f"The certificate names {', '.join(dns + ips) or 'nothing'}, "
                                f"not {options.target.host}.", subject))
    try:
        key = cert.public_key()
    except _unreadable() as exc:
        facts.append(Fact(f"certificate key ({port})", f"could not be read ({_why(exc)}); "
                          "its size was not checked"))
    else:
        bits = getattr(key, "key_size", 0)
        weak_key = (isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey) and bits < 2048) \
            or (isinstance(key, ec.EllipticCurvePublicKey) and bits < 224)
        if weak_key:
            findings.append(finding("TLS-WEAK-KEY", Severity.MEDIUM,
                                    f"The certificate's {key.__class__.__name__.lstrip('_')} "
                                    f"key has {bits} bits.", subject))
    try:
        algo = cert.signature_hash_algorithm
    except _unreadable() as exc:
        facts.append(Fact(f"certificate signature ({port})", f"algorithm not known here "
                          f"({_why(exc)}); its hash was not checked"))
        algo = None
    if algo is not None and algo.name.lower() in ("md5", "sha1"):
        findings.append(finding("TLS-WEAK-SIGNATURE", Severity.MEDIUM,
                                f"The certificate is signed with {algo.name.upper()}.",
                                subject))


def _verify(port: int, options: Options, pacer: Pacer, facts: list[Fact],
            findings: list[Finding]) -> None:
    """With ``--tls-ca``: does the node's certificate verify against it?"""
    subject = f"{options.target.address}:{port}"
    if options.tls.ca is not None:
        ctx = looking_context(options.tls)
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_verify_locations(str(options.tls.ca))
        except (ssl.SSLError, OSError) as exc:
            facts.append(Fact(f"verification against {options.tls.ca.name}",
                              f"not done: {options.tls.ca} could not be loaded as PEM CA "
                              f"certificates ({tls_reason(exc)})"))
            return
        h = handshake(options.target.address, port, ctx, options.timeout, pacer)
        facts.append(Fact(f"verification against {options.tls.ca.name}",
                          "verified" if h.ok else f"failed ({h.detail})"))
        if not h.ok and "CERTIFICATE_VERIFY_FAILED" in h.detail.upper():
            findings.append(finding("TLS-CERT-UNTRUSTED", Severity.MEDIUM,
                                    f"The certificate does not verify against "
                                    f"{options.tls.ca}: {h.detail}.", subject))


def check(access: Access, options: Options, pacer: Pacer, exposed: bool = False) -> Section:
    """``exposed``: the data-exposure checks raised a finding (an unknown caller can query or
    retrieve), which makes ``TLS-ABSENT`` high instead of medium."""
    started = time.monotonic()
    subject = options.target.text
    address = options.target.address
    ports = [options.target.port] + ([options.tls_port] if options.tls_port
                                     and options.tls_port != options.target.port else [])
    facts: list[Fact] = []
    findings: list[Finding] = []
    tls_ports: list[int] = []
    gaps: list[str] = []
    for port in ports:
        report = _port_report(address, port, options, pacer)
        h = report.default
        if not h.tls:
            facts.append(Fact(f"TLS on {port}", f"not offered ({h.detail})"))
            continue
        tls_ports.append(port)
        facts.append(Fact(f"TLS on {port}",
                          f"{h.version}, {h.cipher}" if h.ok else
                          f"offered; the handshake failed ({h.detail})"))
        channel = Channel(options.target.host, address, port, tls=True, client=options.tls)
        cc = client_certificate_required(channel, options, pacer, access.called_aet)
        unknown = list(report.alerted) if (cc.startswith("required")
                                           and options.tls.certificate is None) else []
        for label in unknown:  # the alert may be about the missing certificate
            report.versions[label] = (
                f"not determined: the handshake ended with {report.alerted[label]}, and the "
                "node requires a client certificate that was not given")
        if unknown:
            gaps.append(f"{', '.join(unknown)} on port {port} could not be tested: the node "
                        "requires a client certificate; give --tls-cert and --tls-key")
        for label, result in report.versions.items():
            facts.append(Fact(f"{label} ({port})", result))
        old = [label for label in ("TLS 1.0", "TLS 1.1")
               if report.versions.get(label, "").startswith("accepted")]
        if old:
            findings.append(finding("TLS-WEAK-PROTOCOL", Severity.MEDIUM,
                                    f"Port {port} accepts {' and '.join(old)}.",
                                    f"{address}:{port}"))
        for label, sev, result in report.weak:
            facts.append(Fact(f"suites: {label} ({port})", result))
            if result.startswith("accepted"):
                findings.append(finding("TLS-WEAK-CIPHER", sev,
                                        f"Port {port} negotiates {label}: {result}.",
                                        f"{address}:{port}"))
        if not report.weak and unknown:
            facts.append(Fact(f"suites ({port})", "not tested: no TLS 1.2 or older handshake "
                              "succeeded without a client certificate"))
        facts.append(Fact(f"client certificate ({port})", cc))
        if cc.startswith("not required"):
            findings.append(finding("TLS-NO-CLIENT-CERT", Severity.MEDIUM,
                                    f"Port {port}: {cc}.", f"{address}:{port}"))
        if h.certificate:
            _certificate(h.certificate, port, options, pacer, facts, findings)
    plain = access.plain_answer
    plain_dicom = plain.dicom and not access.channel.tls
    facts.append(Fact("plain TCP DICOM on " + str(options.target.port),
                      plain.describe() if plain_dicom else "not answered"))
    if plain_dicom and tls_ports:
        findings.append(finding(
            "TLS-PLAIN-ALONGSIDE", Severity.MEDIUM,
            f"Port {options.target.port} answers plain DICOM ({plain.describe()}) while TLS "
            f"is offered on {', '.join(map(str, tls_ports))}.", subject))
    elif plain_dicom:
        findings.append(finding(
            "TLS-ABSENT", Severity.HIGH if exposed else Severity.MEDIUM,
            f"Port {options.target.port} answers DICOM over plain TCP ({plain.describe()}) "
            f"and no TLS handshake succeeded on {', '.join(map(str, ports))}"
            + ("" if options.tls_port else " (give --tls-port if the node has a separate "
               "TLS port)") + "."
            + (" The data-exposure checks found that an unknown caller can query or "
               "retrieve: that data crosses the network unencrypted." if exposed else ""),
            subject))
    return Section(FAMILY, TITLE, tuple(findings), tuple(facts),
                   seconds=time.monotonic() - started, incomplete=bool(gaps),
                   gap="; ".join(gaps))
