"""Real DICOM peers for the tests, on 127.0.0.1 and free ports (see ../shared/PEERS.md):
dcmtk's storescp (plain or TLS) and Orthanc. Each is stopped, and its port released, when the
``with`` block ends. scripts/test.sh installs both (apt packages dcmtk and orthanc)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ORTHANC = "/usr/sbin/Orthanc"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str) -> str:
    path = shutil.which(binary) or (binary if os.access(binary, os.X_OK) else None)
    if path is None:
        pytest.fail(f"{binary} is missing: run scripts/test.sh, which installs dcmtk and orthanc")
    return path


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited early ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"peer not listening on {port} after 30 s: {log.read_text()[-2000:]}")


@contextmanager
def running(cmd: list[str], port: int, workdir: Path) -> Iterator[int]:
    log = workdir / "peer.log"
    env = {**os.environ, "TCP_NODELAY": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=workdir, start_new_session=True)
    (workdir / "peer.pid").write_text(str(proc.pid))  # for a test that kills it by its id
    try:
        _wait_listening(port, proc, log)
        yield port
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@contextmanager
def storescp(workdir: Path, aet: str = "STORESCP",
             tls: tuple[Path, Path] | None = None,
             client_ca: Path | None = None) -> Iterator[int]:
    """dcmtk's storescp; with ``tls=(key, cert)`` it speaks only TLS (a client certificate is
    not required: -ic), and with ``client_ca`` too it requires a client certificate signed
    by it (+cf, and dcmtk's default --require-peer-cert)."""
    port = free_port()
    out = workdir / "received"
    out.mkdir(parents=True, exist_ok=True)
    cmd = [need("storescp"), "-aet", aet, "-od", str(out)]
    if tls is not None:
        cmd += ["+tls", str(tls[0]), str(tls[1])]
        cmd += ["+cf", str(client_ca)] if client_ca is not None else ["-ic"]
    with running([*cmd, str(port)], port, workdir) as p:
        yield p


@dataclass(frozen=True)
class OrthancPeer:
    port: int
    http_port: int
    user: str
    password: str

    def rest(self, path: str, method: str = "GET") -> Any:
        """Orthanc's REST API on 127.0.0.1 (JSON answer, or None for an empty one)."""
        import base64
        import urllib.request

        req = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", method=method)
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body.strip() else None

    def count(self) -> int:
        return int(self.rest("/statistics")["CountInstances"])


@contextmanager
def orthanc(workdir: Path, aet: str = "ORTHANC", check_called_aet: bool = True,
            port: int | None = None, extra: dict[str, Any] | None = None
            ) -> Iterator[OrthancPeer]:
    """Orthanc with its storage under ``workdir`` (kept: a second start serves what the first
    stored); ``extra`` adds or overrides configuration keys."""
    port, http = port or free_port(), free_port()
    password = os.urandom(8).hex()
    db = workdir / "orthanc-db"
    db.mkdir(parents=True, exist_ok=True)
    config = {"Name": "pacsguard-test", "StorageDirectory": str(db), "IndexDirectory": str(db),
              "Plugins": [], "HttpPort": http, "DicomPort": port, "DicomAet": aet,
              "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
              "RegisteredUsers": {"test": password},
              "DicomCheckCalledAet": check_called_aet,
              # the gateway's `verify --pacs` lists (C-FIND) and retrieves (C-GET)
              "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True,
              # no in-memory cache of stored files: a test that alters a stored file must
              # see Orthanc serve the altered bytes
              "MaximumStorageCacheSize": 0, **(extra or {})}
    (workdir / "orthanc.json").write_text(json.dumps(config))
    with running([need(ORTHANC), str(workdir / "orthanc.json")], port, workdir):
        yield OrthancPeer(port, http, "test", password)


def make_tls_pair(workdir: Path, days: int = 30) -> tuple[Path, Path]:
    """A self-signed server certificate for 127.0.0.1 and its key (PEM); (key, cert)."""
    workdir.mkdir(parents=True, exist_ok=True)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pacsguard-test-scp")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    key_path, cert_path = workdir / "server.key", workdir / "server.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path
