"""Advisories never dropped in silence (issue #10 item 5), on the real CISA files.

ICSMA-21-313-01 names its products "MRI 1.5T" and "MRI 3T": families named by modality and
field strength, not models. A Philips MR scanner must hear about it (at least ``needs
review``), the version range still applies, the vendor's other machines are listed as
considered and not matched with the reason, and a version string equal to the advisory's
version text is affected even when the text is no range.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from pacsguard.advisories.match import Match, MatchStatus, match
from pacsguard.advisories.store import Imported, current_products, import_paths
from pacsguard.integrity.record import record
from pacsguard.inventory.machines import Machine, list_machines
from pacsguard.inventory.passive import sync
from pacsguard.workspace import Workspace
from tests.fleet import CSAF, CSAF_LATER, VUE_PACS_OLD, Equip, write_images

MRI = "ICSMA-21-313-01"
PORTAL = "ICSMA-22-095-01"

#: A Philips MR scanner at the software version the issue names, and one at an older release
MR_541 = Equip("Philips Medical Systems", "Ingenia", ("5.4.1",), "MR-541", "MRCON1",
               modality="MR")
MR_40 = Equip("Philips Medical Systems", "Achieva", ("4.0",), "MR-40", "MRCON2", modality="MR")
#: A Philips ultrasound at a 5.x release: the MRI families must not reach it
EPIQ = Equip("Philips Ultrasound, Inc.", "EPIQ 7C", ("5.0.1",), "US-501", "USCART1",
             modality="US")
#: LifePoint's Patient Portal reporting exactly the version text of ICSMA-22-095-01
#: ("LPI 3.5.12.P30", which is no range: a word besides the version)
PORTAL_SERVER = Equip("LifePoint Informatics", "Patient Portal", ("LPI 3.5.12.P30",), "LPI-1",
                      "PORTAL1", modality="OT")

FLEET = {"mr-541": MR_541, "mr-40": MR_40, "epiq": EPIQ, "vue-old": VUE_PACS_OLD,
         "portal": PORTAL_SERVER}


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The fleet recorded and inventoried, the 138 CISA advisories and ICSMA-21-313-01
    imported; the tests only read it."""
    root = tmp_path_factory.mktemp("never-silent")
    fleet = root / "fleet"
    for name, eq in FLEET.items():
        write_images(fleet / name, eq, 2)
    ws = Workspace(root / "home")
    ws.init(origin="t.local/ledger")
    ledger, profile, key = ws.open_ledger()
    list(record(ledger, profile, key, [fleet], workers=1))
    sync(ledger.engine)
    got = [r.outcome for r in import_paths(ledger.engine, [CSAF, CSAF_LATER])]
    assert got.count(Imported.NEW) == 139
    yield ledger.engine
    ledger.engine.dispose()


def _results(engine: Engine) -> dict[tuple[str, str], Match]:
    """(advisory, serial number) -> result."""
    machines = list_machines(engine)
    serial = {m.id: m.serial_number for m in machines}
    return {(m.tracking_id, serial[m.machine_id]): m
            for m in match(current_products(engine), machines)}


def test_a_philips_mr_at_5_4_1_needs_review_for_the_mri_families_in_range(
        engine: Engine) -> None:
    res = _results(engine)
    mr = res[(MRI, MR_541.serial)]
    assert mr.status is MatchStatus.NEEDS_REVIEW
    assert mr.cves == ("CVE-2021-26248", "CVE-2021-26262", "CVE-2021-42744")
    assert mr.cvss == 6.2 and mr.remediations
    why = " ".join(mr.reasons)
    assert "'MRI 1.5T' names a family of MR machines, not a model" in why
    assert "'MRI 3T' names a family of MR machines, not a model" in why
    assert "version 5.4.1 is in '5.x.x'" in why
    assert "field strength" in why  # which the images do not tell


def test_a_philips_mr_at_4_0_is_not_affected_because_its_version_is_outside(
        engine: Engine) -> None:
    mr = _results(engine)[(MRI, MR_40.serial)]
    assert mr.status is MatchStatus.NOT_AFFECTED
    assert any("'MRI 3T' names a family of MR machines" in r
               and "version 4.0 is outside '5.x.x'" in r for r in mr.reasons)


def test_the_mri_families_do_not_reach_philips_machines_of_other_modalities(
        engine: Engine) -> None:
    res = _results(engine)
    assert (MRI, EPIQ.serial) not in res
    assert (MRI, VUE_PACS_OLD.serial) not in res


def test_a_version_equal_to_the_advisory_text_is_affected_though_no_range(
        engine: Engine) -> None:
    portal = _results(engine)[(PORTAL, PORTAL_SERVER.serial)]
    assert portal.status is MatchStatus.AFFECTED
    assert any("version 'LPI 3.5.12.P30' is the advisory's version text 'LPI 3.5.12.P30'" in r
               for r in portal.reasons)


def test_a_version_equal_to_the_advisory_text_counts_whatever_its_case_and_spaces(
        engine: Engine) -> None:
    machines = [Machine(9001, "LifePoint Informatics", "LifePoint Informatics",
                        "Patient Portal", "LPI-2", "", "", (), (" lpi  3.5.12.p30 ",), "", "",
                        0, "register")]
    [portal] = [m for m in match(current_products(engine), machines) if m.tracking_id == PORTAL]
    assert portal.status is MatchStatus.AFFECTED


def test_a_machine_whose_modality_is_unknown_needs_review_for_a_family_in_range(
        engine: Engine) -> None:
    """A machine entered in the asset register, no image recorded: the family may be it."""
    registered = Machine(9002, "Philips", "Philips", "Ingenia Ambition", "MR-REG", "", "", (),
                         ("5.7.1",), "", "", 0, "register")
    [mr] = [m for m in match(current_products(engine), [registered]) if m.tracking_id == MRI]
    assert mr.status is MatchStatus.NEEDS_REVIEW
    assert any("no image of model 'Ingenia Ambition' says its modality" in r
               for r in mr.reasons)


def test_a_pet_ct_family_reaches_a_hybrid_scanner_by_its_pt_images_not_a_plain_ct(
        engine: Engine) -> None:
    """ICSMA-17-215-02 "Siemens PET/CT Systems Windows 7-Based": a Biograph writes PT and
    CT images; a SOMATOM writes CT only."""
    biograph = Machine(9003, "Siemens Healthineers", "SIEMENS", "Biograph64", "PETCT-1", "",
                       "", ("CT", "PT"), ("VG60A",), "", "", 0, "passive")
    somatom = Machine(9004, "Siemens Healthineers", "SIEMENS", "SOMATOM Force", "CT-1", "",
                      "", ("CT",), ("VB20A",), "", "", 0, "passive")
    found = {m.machine_id: m for m in match(current_products(engine), [biograph, somatom])
             if m.tracking_id == "ICSMA-17-215-02"}
    assert set(found) == {biograph.id}
    assert found[biograph.id].status is MatchStatus.NEEDS_REVIEW
    assert any("names a family of PET/CT machines" in r and "platform" in r
               for r in found[biograph.id].reasons)
