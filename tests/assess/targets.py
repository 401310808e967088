"""Real targets for the assessment tests, each started on 127.0.0.1 and free ports (the
fixtures are in conftest.py):

* Orthanc with its **default configuration** (only ports and folders set);
* Orthanc **hardened**: a site-specific AE title, called-AE check, no AlwaysAllow*, one known
  modality, DICOM TLS only, client certificates required, REST API behind a password;
* dcmtk's **dcmqrscp** serving a small archive (three studies from the demo samples);
* a **deliberately fragile peer** (fragile_peer.py) that dies on one malformed PDU;
* a **naive Query/Retrieve SCP** (pynetdicom, in this process) that builds its SQL by string
  formatting, so that the query-robustness check has something to find.

dcmtk's storescp comes from tests/peers.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacsguard.assess.model import Authorisation, Options, TlsClient
from pacsguard.inventory.active import parse_target
from tests.peers import ORTHANC, free_port, need, running

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "pacsguard" / "demo" / "samples"
FRAGILE = Path(__file__).with_name("fragile_peer.py")
#: dcmqrscp's archive: four instances of three studies
ARCHIVE = ("deid-data/ctbrain1.dcm", "deid-data/ctbrain2.dcm", "deid-data/GREYSCALE_IMAGE.dcm",
           "dcm4che/YBR_FULL-RLE.dcm")
AUTH = Authorisation("Test Runner", "pytest tests/assess")


def options(port: int, **kw: Any) -> Options:
    """Assessment options for 127.0.0.1:PORT, quick timeouts, no data directory."""
    kw.setdefault("timeout", 3.0)
    kw.setdefault("rate", 20.0)
    kw.setdefault("data_dir", Path("/nonexistent/pacsguard-assess-test"))
    return Options(parse_target(f"127.0.0.1:{port}"), AUTH, **kw)


def _wait_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port} after {seconds} s")


# -- certificates -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    key: Path
    cert: Path


def make_cert(folder: Path, name: str, days: int = 365, expired: bool = False) -> Pair:
    """A self-signed EC certificate naming 127.0.0.1 (expired a day ago when asked)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    start, end = ((now - dt.timedelta(days=30), now - dt.timedelta(days=1)) if expired
                  else (now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    pair = Pair(folder / f"{name}.key", folder / f"{name}.crt")
    pair.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pair.key.chmod(0o600)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return pair


# -- Orthanc ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Orthanc:
    port: int
    http_port: int
    aet: str
    client: Pair | None = None  # the client certificate the hardened one trusts
    user: str = ""
    password: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"

    def rest(self, path: str) -> Any:
        import base64
        import urllib.request

        req = urllib.request.Request(self.url.rstrip("/") + path)
        if self.user:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def instances(self) -> int:
        return int(self.rest("/statistics")["CountInstances"])


@contextmanager
def _orthanc(workdir: Path, config: dict[str, Any], peer: Orthanc) -> Iterator[Orthanc]:
    db = workdir / "orthanc-db"
    db.mkdir(parents=True, exist_ok=True)
    config = {"StorageDirectory": str(db), "IndexDirectory": str(db), "Plugins": [],
              "HttpPort": peer.http_port, "DicomPort": peer.port, **config}
    (workdir / "orthanc.json").write_text(json.dumps(config))
    with running([need(ORTHANC), str(workdir / "orthanc.json")], peer.port, workdir):
        _wait_port(peer.http_port)
        yield peer


# -- dcmtk --------------------------------------------------------------------------------------
@contextmanager
def orthanc_default_peer(workdir: Path) -> Iterator[Orthanc]:
    """Orthanc 1.10 as installed: nothing but ports and folders configured."""
    peer = Orthanc(free_port(), free_port(), "ORTHANC")
    with _orthanc(workdir, {}, peer) as p:
        yield p


@contextmanager
def orthanc_hardened_peer(workdir: Path) -> Iterator[Orthanc]:
    certs = workdir / "certs"
    server = make_cert(certs, "orthanc-server")
    client = make_cert(certs, "pacsguard-client")
    password = os.urandom(8).hex()
    peer = Orthanc(free_port(), free_port(), "HOSP-PACS-7Q", client, "admin", password)
    config = {
        "DicomAet": peer.aet, "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": False, "DicomAlwaysAllowStore": False,
        "DicomAlwaysAllowFind": False, "DicomAlwaysAllowFindWorklist": False,
        "DicomAlwaysAllowGet": False, "DicomAlwaysAllowMove": False,
        "DicomModalities": {"ct1": ["CT-SCANNER-1", "127.0.0.1", 11112]},
        "DicomCheckModalityHost": True,
        "DicomTlsEnabled": True, "DicomTlsCertificate": str(server.cert),
        "DicomTlsPrivateKey": str(server.key),
        "DicomTlsTrustedCertificates": str(client.cert),
        "DicomTlsRemoteCertificateRequired": True,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
        "RegisteredUsers": {"admin": password},
    }
    with _orthanc(workdir, config, peer) as p:
        yield p


@contextmanager
def dcmqrscp_peer(workdir: Path, aet: str = "DCMQRSCP") -> Iterator[int]:
    port = free_port()
    archive = workdir / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    for rel in ARCHIVE:
        target = archive / Path(rel).name
        shutil.copy(SAMPLES / rel, target)
        subprocess.run([need("dcmqridx"), str(archive), str(target)], check=True,
                       capture_output=True)
    cfg = workdir / "dcmqrscp.cfg"
    cfg.write_text(f"NetworkTCPPort = {port}\nMaxPDUSize = 16384\nMaxAssociations = 16\n\n"
                   "HostTable BEGIN\nHostTable END\n\nVendorTable BEGIN\nVendorTable END\n\n"
                   f"AETable BEGIN\n{aet} {archive} RW (200, 1024mb) ANY\nAETable END\n")
    with running([need("dcmqrscp"), "-c", str(cfg)], port, workdir) as p:
        yield p


# -- the fragile peer ---------------------------------------------------------------------------
@dataclass
class Fragile:
    port: int
    proc: subprocess.Popen[bytes]


@contextmanager
def fragile_peer() -> Iterator[Fragile]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(FRAGILE), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        _wait_port(port, 10)
        yield Fragile(port, proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)


# -- a Query/Retrieve SCP with string-built SQL -------------------------------------------------
@contextmanager
def naive_qr_scp() -> Iterator[int]:
    """Study Root C-FIND over an SQLite table, the query built with an f-string: a quote in
    Patient ID makes it fail, a tautology makes it match everything."""
    from pydicom.dataset import Dataset
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        StudyRootQueryRetrieveInformationModelFind,
        Verification,
    )

    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE study (patient_id TEXT, study_uid TEXT)")
    db.executemany("INSERT INTO study VALUES (?, ?)",
                   [(f"P{i}", f"1.2.3.{i}") for i in range(5)])

    def on_find(event: Any) -> Iterator[tuple[int, Dataset | None]]:
        pid = str(event.identifier.get("PatientID", "") or "")
        sql = f"SELECT study_uid FROM study WHERE patient_id = '{pid}'"  # the flaw
        try:
            rows = db.execute(sql).fetchall()
        except sqlite3.Error:
            yield 0xC001, None
            return
        for (uid,) in rows:
            ds = Dataset()
            ds.QueryRetrieveLevel = "STUDY"
            ds.StudyInstanceUID = uid
            yield 0xFF00, ds
        yield 0x0000, None

    ae = AE(ae_title="NAIVEQR")
    ae.add_supported_context(Verification)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, on_find)])
    assert server is not None
    try:
        yield port
    finally:
        server.shutdown()
        db.close()


def client_tls(peer: Orthanc) -> TlsClient:
    assert peer.client is not None
    return TlsClient(peer.client.cert, peer.client.key)
