"""The assessment use cases (pacsguard.app.assess): what must be refused is refused before the
node is contacted, and what comes back is a typed result."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsguard.app.assess import Assessed, assess, replay, save_report
from pacsguard.errors import AssessError, ConfigError
from tests.assess.targets import contacted, listener

AUTHORISED = "Test Runner, pytest"


def test_a_client_certificate_without_its_key_is_refused_before_the_node_is_contacted(
        tmp_path: Path) -> None:
    cert = tmp_path / "client.crt"
    cert.write_text("not needed: refused before it is read")
    with listener() as (port, s):
        with pytest.raises(ConfigError, match="--tls-cert and --tls-key go together"):
            assess(f"127.0.0.1:{port}", AUTHORISED, tls_cert=cert)
        assert not contacted(s)


def test_a_missing_ca_bundle_is_refused_by_name_before_the_node_is_contacted(
        tmp_path: Path) -> None:
    with listener() as (port, s):
        with pytest.raises(ConfigError, match=r"ca\.pem: no such file"):
            assess(f"127.0.0.1:{port}", AUTHORISED, tls_ca=tmp_path / "ca.pem")
        assert not contacted(s)


def test_a_replay_without_authorisation_sends_nothing(tmp_path: Path) -> None:
    with listener() as (port, s):
        with pytest.raises(AssessError, match="--authorized-by"):
            replay(tmp_path / "case.json", f"127.0.0.1:{port}", "")
        assert not contacted(s)


def test_an_assessment_ends_in_a_typed_result_not_an_exception() -> None:
    with listener() as (port, _):  # accepts connections, never answers: no verdict
        done = assess(f"127.0.0.1:{port}", AUTHORISED, timeout=0.5, rate=50)
    assert isinstance(done, Assessed) and not done.interrupted
    assert done.assessment is not None and not done.assessment.complete


def test_a_report_that_cannot_be_written_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no such folder" / "report.json"
    with pytest.raises(ConfigError, match=r"cannot write .*report\.json"):
        save_report(path, "{}")
    assert not path.parent.exists()
