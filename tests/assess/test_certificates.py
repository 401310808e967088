"""A node's certificate that pacsguard cannot read (malformed, or an algorithm the local
``cryptography`` does not know) becomes a fact in the transport section, never a traceback;
so does a --tls-ca file that is not a CA bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsguard.assess.model import Fact, TlsClient
from pacsguard.assess.net import Pacer
from pacsguard.assess.transport import _certificate
from pacsguard.findings import Finding
from tests.assess.targets import make_cert, options

ECDSA_WITH_SHA256 = bytes.fromhex("2a8648ce3d040302")  # 1.2.840.10045.4.3.2
EC_PUBLIC_KEY = bytes.fromhex("2a8648ce3d0201")  # 1.2.840.10045.2.1


def _der(tmp_path: Path) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    pair = make_cert(tmp_path, "node")
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


def _look(der: bytes, ca: Path | None = None) -> tuple[dict[str, str], list[Finding]]:
    facts: list[Fact] = []
    findings: list[Finding] = []
    _certificate(der, 104, options(104, tls=TlsClient(ca=ca)), Pacer(50), facts, findings)
    return {f.name: f.value for f in facts}, findings


@pytest.mark.parametrize("der", [b"\x30\x03\x02\x01\x00", b"not DER at all", b""])
def test_a_certificate_that_is_not_der_is_a_fact(der: bytes) -> None:
    facts, findings = _look(der)
    assert facts["certificate (104)"].startswith("could not be parsed (ValueError")
    assert findings == []


def test_a_truncated_certificate_is_a_fact(tmp_path: Path) -> None:
    facts, _ = _look(_der(tmp_path)[:60])
    assert facts["certificate (104)"].startswith("could not be parsed")


def test_an_unknown_signature_algorithm_is_a_fact_and_the_rest_is_still_checked(
        tmp_path: Path) -> None:
    der = _der(tmp_path).replace(ECDSA_WITH_SHA256, bytes.fromhex("2a8648ce3d040309"))
    facts, _ = _look(der)
    assert "subject CN=node" in facts["certificate (104)"]
    assert facts["certificate signature (104)"].startswith(
        "algorithm not known here (UnsupportedAlgorithm")


def test_an_unknown_key_algorithm_is_a_fact(tmp_path: Path) -> None:
    der = _der(tmp_path).replace(EC_PUBLIC_KEY, bytes.fromhex("2a8648ce3d0209"))
    facts, _ = _look(der)
    assert "subject CN=node" in facts["certificate (104)"]
    assert facts["certificate key (104)"].startswith("could not be read (UnsupportedAlgorithm")


def test_a_ca_file_that_is_not_a_ca_bundle_is_a_fact(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    facts, _ = _look(_der(tmp_path), ca)
    assert facts["verification against ca.pem"].startswith("not done:")
