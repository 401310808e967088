"""The scanner's finding ids are a closed set (:class:`RuleId`), one rule each, and they read
as the same plain strings wherever a finding is written out."""

from __future__ import annotations

import json

from pacsguard.findings import Severity
from pacsguard.scan import RULES, RuleId, scan_bytes
from pacsguard.scan.rules import finding
from tests.scan.polyglots import ELF, with_private


def test_every_rule_id_has_exactly_one_rule_under_its_own_id() -> None:
    assert set(RULES) == set(RuleId)
    assert all(rule.id is rule_id for rule_id, rule in RULES.items())


def test_a_rule_id_is_written_as_its_plain_string_in_json_and_text() -> None:
    found = finding(RuleId.HIDDEN_EXECUTABLE, "an ELF executable", "x.dcm")
    assert json.dumps(found.as_dict()["id"]) == '"HIDDEN-EXECUTABLE"'
    assert f"{found.id}" == str(found.id) == "HIDDEN-EXECUTABLE"
    assert found.id == "HIDDEN-EXECUTABLE" and found.severity is Severity.HIGH


def test_the_scanner_reports_rule_ids_that_compare_equal_to_their_strings() -> None:
    ids = [f.id for f in scan_bytes(with_private(ELF)).findings]
    assert ids == ["HIDDEN-EXECUTABLE"] and ids == [RuleId.HIDDEN_EXECUTABLE]
