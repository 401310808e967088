"""Real targets for the assessment tests, each started on 127.0.0.1 and free ports (the
fixtures are in conftest.py):

* Orthanc with its **default configuration** (only ports and folders set);
* Orthanc **hardened**: a site-specific AE title, called-AE check, no AlwaysAllow*, one known
  modality, DICOM TLS only, client certificates required, REST API behind a password;
* dcmtk's **dcmqrscp** serving a small archive (three studies from the demo samples);
* a **deliberately fragile peer** (fragile_peer.py) that dies on one malformed PDU;
* a **naive Query/Retrieve SCP** (pynetdicom, in this process) that builds its SQL by string
  formatting, so that the query-robustness check has something to find; or, with
  ``like=True``, binds the value but hands it to a ``LIKE`` unescaped;
* a **web server** (``web_peer``, http.server in this process) answering one status to every
  request and noting what it was asked;
* a **counting proxy** (``counting_proxy``) in front of a real node, noting when each
  connection was opened, to measure the rate a check really uses;
* a **listener** (``listener``) that notes only whether anyone connected.

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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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


def make_cert(folder: Path, name: str, days: int = 365, expired: bool = False,
              rsa: bool = False) -> Pair:
    """A self-signed EC certificate naming 127.0.0.1 (expired a day ago when asked); RSA
    when asked (dcmtk's default TLS profile offers TLS 1.2 only with RSA keys)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric import rsa as rsa_keys
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    key: ec.EllipticCurvePrivateKey | rsa_keys.RSAPrivateKey = (
        rsa_keys.generate_private_key(65537, 2048) if rsa else ec.generate_private_key(
            ec.SECP256R1()))
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
def naive_qr_scp(like: bool = False) -> Iterator[int]:
    """Study Root C-FIND over an SQLite table, the query built with an f-string: a quote in
    Patient ID makes it fail, a tautology makes it match everything. With ``like``, the value
    is a bound parameter of a LIKE: quotes are harmless, but % matches everything."""
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
        try:
            if like:  # bound, but % and _ are not escaped
                rows = db.execute("SELECT study_uid FROM study WHERE patient_id LIKE ?",
                                  (pid,)).fetchall()
            else:
                sql = f"SELECT study_uid FROM study WHERE patient_id = '{pid}'"  # the flaw
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


# -- small servers of our own ---------------------------------------------------------------------
@contextmanager
def listener(host: str = "127.0.0.1", port: int = 0) -> Iterator[tuple[int, socket.socket]]:
    """A port that only notes whether anyone connected (see :func:`contacted`)."""
    with socket.socket() as s:
        s.bind((host, port))
        s.listen(16)
        s.settimeout(0.3)
        yield s.getsockname()[1], s


def contacted(s: socket.socket) -> bool:
    try:
        conn, _ = s.accept()
    except TimeoutError:
        return False
    conn.close()
    return True


@dataclass
class WebPeer:
    port: int
    requests: list[tuple[str, str, str]]  # (method, path, Host header)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@contextmanager
def web_peer(status: int = 404, body: bytes = b"",
             headers: dict[str, str] | None = None) -> Iterator[WebPeer]:
    """An HTTP server on 127.0.0.1 answering ``status`` (with ``body`` and ``headers``) to
    every request, and noting each request."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            seen.append((self.command, self.path, self.headers.get("Host", "")))
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield WebPeer(server.server_address[1], seen)
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Proxy:
    port: int
    opened: list[float]  # time.monotonic() of each accepted connection


@contextmanager
def counting_proxy(backend: int) -> Iterator[Proxy]:
    """A TCP forwarder on 127.0.0.1 to the node on ``backend``, noting when each connection
    was accepted."""
    opened: list[float] = []
    stop = threading.Event()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    lsock.settimeout(0.1)

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def relay(client: socket.socket, upstream: socket.socket) -> None:
        back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        back.start()
        pump(client, upstream)
        back.join(timeout=30)
        client.close()
        upstream.close()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = lsock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            opened.append(time.monotonic())
            try:
                upstream = socket.create_connection(("127.0.0.1", backend), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            threading.Thread(target=relay, args=(client, upstream), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield Proxy(lsock.getsockname()[1], opened)
    finally:
        stop.set()
        thread.join(timeout=5)
        lsock.close()
