"""The simple alert form (YAML/CSV) for alerts without CSAF, such as NHS cyber alerts."""

from __future__ import annotations

import pytest

from pacsguard.advisories.simple import parse_alert_file
from pacsguard.errors import AdvisoryError

YAML = b"""
alerts:
  - id: CC-4521
    title: Philips Vue PACS remote code execution
    published: 2024-05-01
    vendor: Philips
    products: [Vue PACS, Vue Motion]
    affected_versions: "<12.2.8.410"
    fixed_versions: "12.2.8.410"
    severity: high
    cves: [CVE-2020-1938]
    link: https://digital.nhs.uk/cyber-alerts/2024/cc-4521
    remediation: Upgrade to 12.2.8.410 or later.
"""

CSV = (b"id,title,vendor,products,affected_versions,severity,cves\n"
       b"CC-1,Orthanc web viewer,Orthanc,Osimis WebViewer,<=1.4.2,7.1,CVE-2023-7238\n"
       b"CC-2,Sante viewer,Santesoft,Sante DICOM Viewer Pro;Sante FFT Imaging,*,critical,\n")


def test_a_yaml_alert_becomes_affected_and_fixed_products() -> None:
    [(adv, raw)] = parse_alert_file(YAML, "nhs.yaml")
    assert adv.tracking_id == "CC-4521" and adv.kind == "alert"
    assert adv.current_release_date == "2024-05-01" and adv.severity == "high"
    statuses = sorted((p.product, p.status, p.version_text) for p in adv.products)
    assert statuses == [("Vue Motion", "fixed", "12.2.8.410"),
                        ("Vue Motion", "known_affected", "<12.2.8.410"),
                        ("Vue PACS", "fixed", "12.2.8.410"),
                        ("Vue PACS", "known_affected", "<12.2.8.410")]
    assert adv.cves == ("CVE-2020-1938",)
    assert adv.products[0].remediations[0].url == "https://digital.nhs.uk/cyber-alerts/2024/cc-4521"
    assert raw == parse_alert_file(YAML, "again.yaml")[0][1]  # canonical bytes are stable


def test_csv_alerts_one_per_row_with_semicolon_lists_and_numeric_severity() -> None:
    out = parse_alert_file(CSV, "alerts.csv")
    assert [a.tracking_id for a, _ in out] == ["CC-1", "CC-2"]
    assert out[0][0].max_cvss == 7.1
    assert [p.product for p in out[1][0].products] == ["Sante DICOM Viewer Pro",
                                                       "Sante FFT Imaging"]
    assert out[1][0].severity == "critical"


@pytest.mark.parametrize(("data", "name", "reason"), [
    (b"- id: X\n  title: t\n  vendor: v\n  products: [p]\n  affected_versions: '*'\n"
     b"  sevrity: high\n", "a.yaml", "alert 1: unknown field.s. sevrity"),
    (b"- id: X\n  title: t\n  vendor: v\n  affected_versions: '*'\n", "a.yaml",
     "missing required field.s. products"),
    (b"- id: X\n  title: t\n  vendor: v\n  products: [p]\n  affected_versions: '*'\n"
     b"  cves: [CVE-20-1]\n", "a.yaml", "'CVE-20-1' is not a CVE id"),
    (b"- id: X\n  title: t\n  vendor: v\n  products: [p]\n  affected_versions: '*'\n"
     b"  severity: 11\n", "a.yaml", "severity '11' is not one of"),
    (b"- id: X\n  title: t\n  vendor: v\n  products: [p]\n  affected_versions: '*'\n"
     b"- id: X\n  title: t\n  vendor: v\n  products: [p]\n  affected_versions: '*'\n",
     "a.yaml", "alert id 'X' appears more than once"),
    (b"alerts: [1, 2]", "a.yaml", "expected a list of alerts"),
    (b"key: [unclosed", "a.yaml", "not valid YAML"),
    (b"", "a.csv", "empty CSV file"),
    (b"id,title\nA,B,C\n", "a.csv", "more cells than the header"),
    (b"id,title,vendor,products,affected_versions,published\nA,t,v,p,*,yesterday\n", "a.csv",
     "published 'yesterday' is not a date"),
])
def test_a_bad_alert_rejects_the_whole_file_naming_the_alert_and_field(
        data: bytes, name: str, reason: str) -> None:
    with pytest.raises(AdvisoryError, match=reason):
        parse_alert_file(data, name)
