"""A provider's published CSAF feed (provider-metadata.json + ROLIE) over HTTPS, from a local
HTTPS server on 127.0.0.1 serving the real CISA files."""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pacsguard.advisories.feed import import_feed
from pacsguard.advisories.store import Imported
from pacsguard.errors import AdvisoryError
from tests.fleet import CSAF
from tests.peers import make_tls_pair

DOCS = ["icsma-21-187-01.json", "icsma-18-037-02.json", "icsma-24-023-01.json"]


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """(base URL, served folder, CA file) of a CSAF trusted provider on 127.0.0.1."""
    root = tmp_path / "www"
    csaf_dir = root / ".well-known" / "csaf"
    (csaf_dir / "white").mkdir(parents=True)
    key, cert = make_tls_pair(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    base = f"https://127.0.0.1:{server.server_address[1]}/.well-known/csaf"
    entries = []
    for name in DOCS:
        data = (CSAF / name).read_bytes()
        (csaf_dir / "white" / name).write_bytes(data)
        (csaf_dir / "white" / f"{name}.sha512").write_text(
            f"{hashlib.sha512(data).hexdigest()}  {name}\n")
        entries.append({"id": name, "title": name, "updated": "2024-10-24T00:00:00Z",
                        "link": [{"rel": "self", "href": f"{base}/white/{name}"},
                                 {"rel": "hash", "href": f"{base}/white/{name}.sha512"},
                                 {"rel": "signature", "href": f"{base}/white/{name}.asc"}],
                        "format": {"schema": "https://docs.oasis-open.org/csaf/csaf/v2.0/"
                                   "csaf_json_schema.json", "version": "2.0"}})
    (csaf_dir / "feed-tlp-white.json").write_text(json.dumps({"feed": {
        "id": "test-white", "title": "test", "updated": "2024-10-24T00:00:00Z",
        "link": [{"rel": "self", "href": f"{base}/feed-tlp-white.json"}],
        "category": [{"scheme": "urn:ietf:params:rolie:category:information-type",
                      "term": "csaf"}],
        "entry": entries}}))
    (csaf_dir / "provider-metadata.json").write_text(json.dumps({
        "canonical_url": f"{base}/provider-metadata.json",
        "distributions": [{"rolie": {"feeds": [{"summary": "white", "tlp_label": "WHITE",
                                                "url": f"{base}/feed-tlp-white.json"}]}}],
        "last_updated": "2024-10-24T00:00:00Z", "list_on_CSAF_aggregators": True,
        "metadata_version": "2.0", "mirror_on_CSAF_aggregators": True,
        "publisher": {"category": "coordinator", "name": "Test CERT",
                      "namespace": "https://127.0.0.1"},
        "role": "csaf_trusted_provider"}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base, csaf_dir, cert
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def test_a_feed_is_followed_hashes_checked_and_documents_imported(
        engine: Engine, provider: tuple[str, Path, Path]) -> None:
    base, _, ca = provider
    got = list(import_feed(engine, f"{base}/provider-metadata.json", ca))
    assert [r.outcome for r in got] == [Imported.NEW] * 3
    assert {r.tracking_id for r in got} == {"ICSMA-21-187-01", "ICSMA-18-037-02",
                                            "ICSMA-24-023-01"}
    assert all(r.source.startswith("https://127.0.0.1:") for r in got)
    again = list(import_feed(engine, f"{base}/provider-metadata.json", ca))
    assert [r.outcome for r in again] == [Imported.UNCHANGED] * 3


def test_a_document_that_does_not_match_its_hash_is_not_imported(
        engine: Engine, provider: tuple[str, Path, Path]) -> None:
    base, root, ca = provider
    doc = root / "white" / DOCS[0]
    doc.write_bytes(doc.read_bytes().replace(b"Vue PACS", b"Vue PACZ"))
    got = {r.source.rsplit("/", 1)[1]: r for r in
           import_feed(engine, f"{base}/provider-metadata.json", ca)}
    assert got[DOCS[0]].outcome is Imported.REJECTED
    assert "sha512 does not match" in got[DOCS[0]].detail
    assert got[DOCS[1]].outcome is Imported.NEW


def test_a_document_without_a_hash_file_is_not_imported(
        engine: Engine, provider: tuple[str, Path, Path]) -> None:
    base, root, ca = provider
    (root / "white" / f"{DOCS[1]}.sha512").unlink()
    got = {r.source.rsplit("/", 1)[1]: r for r in
           import_feed(engine, f"{base}/provider-metadata.json", ca)}
    assert got[DOCS[1]].outcome is Imported.REJECTED
    assert "HTTP 404" in got[DOCS[1]].detail


def test_an_untrusted_certificate_or_plain_http_is_refused(
        engine: Engine, provider: tuple[str, Path, Path]) -> None:
    base, _, _ = provider
    with pytest.raises(AdvisoryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        list(import_feed(engine, f"{base}/provider-metadata.json"))
    with pytest.raises(AdvisoryError, match="only HTTPS"):
        list(import_feed(engine, base.replace("https", "http") + "/provider-metadata.json"))


def test_metadata_that_is_not_csaf_2_0_is_refused(
        engine: Engine, provider: tuple[str, Path, Path]) -> None:
    base, root, ca = provider
    meta = json.loads((root / "provider-metadata.json").read_text())
    meta["metadata_version"] = "2.1"
    (root / "provider-metadata.json").write_text(json.dumps(meta))
    with pytest.raises(AdvisoryError, match=r"not CSAF 2\.0 provider metadata"):
        list(import_feed(engine, f"{base}/provider-metadata.json", ca))


def test_alerts_import_feed_from_the_command_line(provider: tuple[str, Path, Path],
                                                  tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pacsguard.cli.main import app

    base, _, ca = provider
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["init", "--data-dir", str(home)]).exit_code == 0
    r = runner.invoke(app, ["alerts", "import", "--feed", f"{base}/provider-metadata.json",
                            "--ca-file", str(ca), "--data-dir", str(home)])
    assert r.exit_code == 0, r.output
    assert "3 advisories read: 3 new" in r.output and "OpenPGP signatures" in r.output
    r = runner.invoke(app, ["alerts", "import", "--data-dir", str(home)])
    assert r.exit_code == 2 and "--feed URL" in r.output
