"""Active discovery: ask a named DICOM node who it is (``pacsguard discover HOST:PORT...``).

Only the targets given are contacted, each at most three times: one DICOM association with
C-ECHO (plain TCP), one TLS handshake on the same port (or ``--tls-port``), and, when the port
speaks only TLS, one association over TLS. No ranges, no wildcards, no port scanning: a target
is exactly one host and one port, and a host name must resolve to one address.

What is recorded:
* whether an **arbitrary calling AE title** is accepted (pacsguard calls with a random title
  no site would have configured), and the A-ASSOCIATE-RJ result, source and reason if not;
* the **Implementation Class UID and Version Name** from the A-ASSOCIATE-AC, mapped to a known
  implementation and version where the UID root says which (DCMTK, pynetdicom, dcm4che,
  fo-dicom, GDCM...). Products built on a toolkit report the toolkit: Orthanc answers as
  DCMTK, so the mapping names the toolkit, not the product;
* the C-ECHO status;
* whether **TLS** is offered: protocol, cipher, and the certificate's subject and expiry.

The association and its C-ECHO go through pacsguard's own upper layer
(:class:`pacsguard.dicom.ul.Requestor`), which announces pacsguard's Implementation Class UID.

The node becomes (or updates) a machine in the inventory with source ``active``: vendor and
model from the implementation, the version as its software version, the target as its station
name, so advisories about the toolkit match it like any other machine.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import socket
import ssl
from dataclasses import asdict, dataclass

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.dates import utc_now
from pacsguard.dicom.equipment import Equipment
from pacsguard.dicom.pdu import Proposal
from pacsguard.dicom.status import RejectResult
from pacsguard.dicom.uids import DEFLATED_LE, EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, VERIFICATION
from pacsguard.dicom.ul import Requestor
from pacsguard.errors import AssociationError, AssociationRejected, ConfigError, StoreError
from pacsguard.inventory.passive import machine_identity, machine_key
from pacsguard.products.vendors import canonical_vendor
from pacsguard.store.engine import inserted_id
from pacsguard.store.schema import discoveries, machines

#: Implementation Class UID roots (PS3.7 D.3.3.2) -> (vendor, implementation, version pattern
#: over the Implementation Version Name)
IMPLEMENTATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("1.2.276.0.7230010.3", "OFFIS", "DCMTK", r"^OFFIS_DCMTK_(\d)(\d)(\d+)$"),
    ("1.2.826.0.1.3680043.9.3811", "pynetdicom", "pynetdicom", r"^PYNETDICOM_(\d)(\d)(\d+)$"),
    ("1.2.40.0.13.1", "dcm4che", "dcm4che", r"^dcm4che-([\w.]+)$"),
    ("1.3.6.1.4.1.30071.8", "fo-dicom", "fo-dicom", r"^fo-dicom ([\w.]+)$"),
    ("1.2.826.0.1.3680043.2.1143", "GDCM", "GDCM", r"^GDCM ([\w.]+)$"),
)
_TARGET = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<host>[A-Za-z0-9.-]+)):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class Target:
    text: str
    host: str
    address: str
    port: int


def _resolve_one(text: str, host: str, port: int) -> str:
    try:
        infos = {str(i[4][0]) for i in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except socket.gaierror as exc:
        raise ConfigError(f"target {text!r}: cannot resolve {host} ({exc.strerror})") from None
    if len(infos) != 1:
        raise ConfigError(f"target {text!r}: {host} resolves to {len(infos)} addresses "
                          f"({', '.join(sorted(infos))}); name one address")
    return infos.pop()


def parse_target(text: str) -> Target:
    """One host and one port, resolved to exactly one address; anything else is refused."""
    m = _TARGET.match(text.strip())
    if m is None or any(c in text for c in "/*,"):
        raise ConfigError(f"target {text!r}: give exactly one HOST:PORT (an IPv6 address as "
                          "[ADDR]:PORT); ranges, networks and wildcards are never scanned")
    host = m.group("v6") or m.group("host")
    port = int(m.group("port"))
    if not 0 < port < 65536:
        raise ConfigError(f"target {text!r}: port {port} is not a TCP port")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        address = _resolve_one(text, host, port)
    return Target(text.strip(), host, address, port)


@dataclass(frozen=True)
class Probe:
    target: str
    address: str
    port: int
    at: str
    reachable: bool
    dicom: bool  # answered as a DICOM node (accepted or rejected an association)
    accepted: bool
    calling_aet: str  # the random title we called with
    called_aet: str
    any_calling_aet: bool | None  # True: our unknown calling title was accepted
    reject: str  # "result / source / reason" of an A-ASSOCIATE-RJ
    implementation_class_uid: str
    implementation_version_name: str
    vendor: str
    implementation: str
    version: str
    echo_status: int | None
    tls: bool | None  # None: could not tell
    tls_detail: str
    over_tls: bool  # the association itself ran over TLS
    error: str

    def findings(self) -> list[str]:
        out = []
        if not self.reachable:
            return [f"not reachable: {self.error}"]
        if self.any_calling_aet:
            out.append(f"accepts an unknown calling AE title ({self.calling_aet}): no "
                       "allow-list of senders")
        if self.accepted and not self.over_tls and not self.tls:
            out.append("plain TCP only: images and patient data cross the network unencrypted")
        if self.tls and self.accepted and not self.over_tls:
            out.append("TLS on this port, but plain DICOM is accepted too")
        if self.reject:
            out.append(f"association rejected: {self.reject}")
        return out


def identify(class_uid: str, version_name: str) -> tuple[str, str, str]:
    """(vendor, implementation, version) from the A-ASSOCIATE-AC; empty when unknown."""
    for root, vendor, name, pattern in IMPLEMENTATIONS:
        if class_uid == root or class_uid.startswith(root + "."):
            m = re.match(pattern, version_name.strip())
            version = ".".join(g for g in m.groups()) if m else ""
            return vendor, name, version
    return "", "", ""


@dataclass(frozen=True)
class _Answer:
    """What one association request and its C-ECHO told."""

    calling_aet: str  # the random title we called with
    dicom: bool  # answered as a DICOM node: accepted, or rejected with a reason
    accepted: bool = False
    reject: str = ""
    class_uid: str = ""
    version_name: str = ""
    echo: int | None = None


#: Verification with the transfer syntaxes discover has always proposed (pynetdicom's
#: defaults, PS3.5 §10: Implicit, Explicit, Deflated Explicit VR Little Endian, Explicit VR Big
#: Endian)
_VERIFICATION = Proposal(VERIFICATION, (IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE))


def _rejection_words(r: AssociationRejected) -> str | None:
    """``Rejected Permanent / Service User / Called AE title not recognised``: the
    A-ASSOCIATE-RJ in pynetdicom's words, as discover has recorded rejections since its first
    version (so that stored discoveries still compare); None for codes pynetdicom does not
    accept as a rejection, which it never reported as one."""
    from pynetdicom.pdu_primitives import A_ASSOCIATE

    if r.result not in (RejectResult.PERMANENT, RejectResult.TRANSIENT):
        return None
    p = A_ASSOCIATE()
    try:
        p.result, p.result_source, p.diagnostic = r.result, r.source, r.diagnostic
    except ValueError:
        return None
    return f"{p.result_str} / {p.source_str} / {p.reason_str}"


def _associate(t: Target, called: str, timeout: float,
               tls: ssl.SSLContext | None) -> _Answer:
    calling = "PG" + secrets.token_hex(4).upper()  # 10 characters no site has configured
    try:
        assoc = Requestor.connect(t.address, t.port, calling, called, [_VERIFICATION],
                                  ssl_context=tls, timeout=timeout)
    except AssociationRejected as exc:
        words = _rejection_words(exc)
        return _Answer(calling, words is not None, reject=words or "")
    except AssociationError:  # no answer, not DICOM, A-ABORT, or no context accepted
        return _Answer(calling, False)
    try:
        status: int | None = assoc.echo(next(iter(assoc.contexts.values())))
    except AssociationError:
        status = None
    finally:
        assoc.release()
    return _Answer(calling, True, True, "", assoc.peer.implementation_class_uid,
                   assoc.peer.implementation_version_name, status)


def _looking_context() -> ssl.SSLContext:
    """A client context that accepts any certificate: discovery asks what a node offers;
    whether to trust it is the assessment's job."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tls_probe(address: str, port: int, timeout: float) -> tuple[bool | None, str]:
    ctx = _looking_context()
    try:
        with socket.create_connection((address, port), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, server_hostname=None) as s:
            der = s.getpeercert(binary_form=True)
            cipher = s.cipher()
            detail = f"{s.version()}, {cipher[0] if cipher else '?'}"
    except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
        return False, f"no TLS handshake ({exc.__class__.__name__})"
    except OSError as exc:
        return None, f"could not connect ({exc.strerror or exc})"
    if der:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(der)
        detail += (f"; certificate {cert.subject.rfc4514_string()}, expires "
                   f"{cert.not_valid_after_utc.date().isoformat()}")
    return True, detail


def probe(t: Target, called_aet: str = "ANY-SCP", timeout: float = 5.0,
          tls_port: int | None = None) -> Probe:
    """Ask one target who it is (see the module text for exactly what is sent)."""
    at = utc_now()
    error = ""
    try:
        with socket.create_connection((t.address, t.port), timeout=timeout):
            pass
    except OSError as exc:
        return Probe(t.text, t.address, t.port, at, False, False, False, "", called_aet, None,
                     "", "", "", "", "", "", None, None, "", False,
                     f"{t.address}:{t.port}: {exc.strerror or exc}")
    plain = _associate(t, called_aet, timeout, None)
    tls, tls_detail = _tls_probe(t.address, tls_port or t.port, timeout)
    result, over_tls = plain, False
    if not plain.dicom and tls and (tls_port is None or tls_port == t.port):
        result, over_tls = _associate(t, called_aet, timeout, _looking_context()), True
    if not result.dicom:
        error = "no DICOM answer (not a DICOM port, or it wants a client certificate)"
    vendor, name, version = identify(result.class_uid, result.version_name)
    return Probe(
        t.text, t.address, t.port, at, True, result.dicom, result.accepted,
        result.calling_aet, called_aet,
        True if result.accepted else (False if result.reject else None),
        result.reject, result.class_uid, result.version_name, vendor, name, version,
        result.echo, tls, tls_detail, over_tls, error)


def remember(engine: Engine, p: Probe) -> int | None:
    """Store the probe, and the node as a machine (source ``active``) when it identified
    itself; return the machine id."""
    mid: int | None = None
    try:
        with engine.begin() as conn:
            if p.accepted and (p.implementation or p.implementation_class_uid):
                model = p.implementation or f"DICOM node ({p.implementation_class_uid})"
                eq = Equipment(manufacturer=p.vendor or "unknown", model=model,
                               station_name=f"{p.address}:{p.port}")
                identity = machine_identity(eq)
                assert identity is not None
                key = machine_key(identity)
                found = conn.execute(select(machines.c.id).where(machines.c.machine_key == key)
                                     ).scalar()
                if found is None:
                    mid = inserted_id(conn.execute(machines.insert().values(
                        machine_key=key, vendor=canonical_vendor(eq.manufacturer),
                        manufacturer=eq.manufacturer, model=model, serial_number="",
                        station_name=eq.station_name, institution="", modalities="",
                        software_versions=p.version, first_seen=p.at, last_seen=p.at,
                        image_count=0, source="active")))
                else:
                    mid = int(found)
                    conn.execute(update(machines).where(machines.c.id == mid).values(
                        software_versions=p.version, last_seen=p.at))
            conn.execute(discoveries.insert().values(
                target=p.target, address=p.address, port=p.port, at=p.at, machine_id=mid,
                result=json.dumps(asdict(p), sort_keys=True)))
    except SQLAlchemyError as exc:
        raise StoreError(f"could not store the discovery: {getattr(exc, 'orig', exc)}"
                         ) from None
    return mid
