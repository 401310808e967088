"""Shared fixtures: real sample files, a fresh data directory, a real PostgreSQL server, and
the governance fleet on both backends.

The PostgreSQL server is started here on 127.0.0.1 (a free port, a scram-sha-256 password made
up for this run, its own data folder) and stopped when the session ends. scripts/test.sh
installs the Debian package; without it the PostgreSQL tests fail rather than skip, unless
PACSGUARD_TEST_NO_POSTGRES=1 is set explicitly.

Fixtures only: constants and helper functions live in helper modules (tests/fleet.py,
tests/governance.py, tests/peers.py, tests/<area>/helpers.py …) and are imported from
there, never from a conftest.py.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pacsguard.advisories.store import import_paths
from pacsguard.integrity.record import record
from pacsguard.inventory.passive import sync
from pacsguard.workspace import Workspace
from tests.fleet import CSAF, ISCV, SAMPLES, SPECT_XP, VUE_PACS_NEW, VUE_PACS_OLD, write_images
from tests.governance import ADVISORIES


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def sample_files() -> list[Path]:
    return sorted(SAMPLES.rglob("*.dcm"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Start a throw-away PostgreSQL on loopback; yield an admin URL (no database part)."""
    if os.environ.get("PACSGUARD_TEST_NO_POSTGRES") == "1":
        pytest.skip("PACSGUARD_TEST_NO_POSTGRES=1: PostgreSQL tests switched off by request")
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); run "
                    "scripts/test.sh, which installs the 'postgresql' package")
    root = Path(tempfile.mkdtemp(prefix="pacsguard-pg-"))
    pgdata, sock = root / "data", root / "sock"
    sock.mkdir()
    password = secrets.token_urlsafe(18)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("postgres")
        for p in (root, sock, pwfile):
            os.chown(p, user.pw_uid, user.pw_gid)
        os.chmod(root, 0o700)
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(pgdata), "-U", "pacsguard",
                    "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                    "--locale=C.UTF-8"], check=True, capture_output=True)
    log = root / "log"
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w",
                    "-o", f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off",
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://pacsguard:{password}@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import psycopg

    name = "t_" + secrets.token_hex(6)
    with psycopg.connect(postgres_server + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def sqlite_engine(data_dir: Path) -> Iterator[Engine]:
    """The database engine of a fresh SQLite workspace (``pacsguard init``)."""
    ws = Workspace(data_dir)
    ws.init(origin="t.local/ledger")
    ledger, _, _ = ws.open_ledger()
    yield ledger.engine
    ledger.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def governance_engine(request: pytest.FixtureRequest, data_dir: Path,
                      tmp_path: Path) -> Iterator[Engine]:
    """The governance fleet of tests/governance.py, recorded, its advisories imported and the
    inventory synced; on SQLite and on PostgreSQL."""
    ws = Workspace(data_dir)
    if request.param == "postgresql":
        ws.init(database_url=request.getfixturevalue("postgres_url"), origin="t.local/ledger")
    else:
        ws.init(origin="t.local/ledger")
    for name, eq in [("vo", VUE_PACS_OLD), ("vn", VUE_PACS_NEW), ("sp", SPECT_XP),
                     ("cv", ISCV)]:
        write_images(tmp_path / "fleet" / name, eq, 2)
    ledger, profile, key = ws.open_ledger()
    list(record(ledger, profile, key, [tmp_path / "fleet"], workers=1))
    list(import_paths(ledger.engine, [CSAF / a for a in ADVISORIES]))
    sync(ledger.engine)
    yield ledger.engine
    ledger.engine.dispose()
