"""Query robustness against an archive with string-built SQL, and identity matched against an
imported advisory."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from pacsguard.advisories.store import import_paths
from pacsguard.assess.runner import assess
from pacsguard.findings import Severity
from tests.assess.targets import naive_qr_scp, options
from tests.peers import storescp


def test_sql_built_from_the_patient_id_is_caught_by_metacharacter_queries() -> None:
    with naive_qr_scp() as port:
        a = assess(options(port))
    by_id = {f.id: f for f in a.findings}
    assert by_id["QUERY-INJECTION"].severity is Severity.CRITICAL
    assert "' OR '1'='1" in by_id["QUERY-INJECTION"].evidence
    assert "Baseline 0 matches" in by_id["QUERY-INJECTION"].evidence
    assert "QUERY-LIKE-WILDCARD" not in by_id  # '=' has no wildcards
    assert "0xC001" in by_id["QUERY-ERROR-ON-METACHARS"].evidence
    assert a.exit_status == 6
    # the tautology's matches were counted, never shown
    assert "1.2.3.0" not in str(a.as_dict())


def test_like_wildcards_that_widen_a_bound_query_are_low_not_an_injection() -> None:
    with naive_qr_scp(like=True) as port:
        a = assess(options(port))
    by_id = {f.id: f for f in a.findings}
    assert "QUERY-INJECTION" not in by_id
    wildcard = by_id["QUERY-LIKE-WILDCARD"]
    assert wildcard.severity is Severity.LOW
    assert "'bare %': 0x0000 Success, 5 matches" in wildcard.evidence
    assert "OR" not in wildcard.evidence  # the tautologies changed nothing


def test_the_identified_dcmtk_version_is_matched_against_an_imported_advisory(
        sqlite_engine: Engine, data_dir: Path, tmp_path: Path) -> None:
    with storescp(tmp_path) as port:
        first = assess(options(port, data_dir=data_dir, data_dir_explicit=True))
        [ident] = [s for s in first.sections if s.family == "identity"]
        version = {f.name: f.value for f in ident.facts}["identified as"].split()[1]
        (tmp_path / "dcmtk.yaml").write_text(
            "- id: DCMTK-NOW\n  title: DCMTK heap overflow\n  vendor: OFFIS\n"
            f"  products: [DCMTK]\n  affected_versions: '<= {version}'\n  severity: '9.8'\n"
            "- id: DCMTK-OLD\n  title: DCMTK path traversal\n  vendor: OFFIS\n"
            f"  products: [DCMTK]\n  affected_versions: '< {version}'\n")
        imported = list(import_paths(sqlite_engine, [tmp_path / "dcmtk.yaml"]))
        assert all(r.outcome.value == "new" for r in imported), imported
        a = assess(options(port, data_dir=data_dir, data_dir_explicit=True))
    matches = [f for f in a.findings if f.id == "ADVISORY-MATCH"]
    assert len(matches) == 1
    assert matches[0].evidence.startswith("DCMTK-NOW")
    assert matches[0].severity is Severity.CRITICAL
