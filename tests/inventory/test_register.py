"""The asset register: manual facts merged into the inventory from CSV and exported again
(pacsguard/inventory/register.py), on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from pacsguard.errors import ConfigError
from pacsguard.inventory.passive import sync
from pacsguard.inventory.register import export_csv, import_csv, register_entries
from pacsguard.reports.status import patch_status
from tests.governance import TODAY, machine


@pytest.fixture
def engine(governance_engine: Engine) -> Engine:
    return governance_engine


def test_the_register_merges_manual_facts_without_losing_edits(engine: Engine) -> None:
    vue = machine(engine, "VUE-01")
    csv1 = ("id,location,owner,support_end,operating_system,os_end_of_life\n"
            f"{vue.id},Radiology server room 2,PACS team,2025-06-30,Windows Server 2012 R2,"
            "2023-10-10\n").encode()
    r = import_csv(engine, csv1, "reg.csv")
    assert (r.updated, r.created) == (1, 0)
    # an older export with empty cells does not blank the edit; '-' clears
    csv2 = f"id,location,owner,notes\n{vue.id},,-,spare parts from supplier\n".encode()
    import_csv(engine, csv2, "reg2.csv")
    e = register_entries(engine)[vue.id]
    assert e.location == "Radiology server room 2" and e.owner == ""
    assert e.notes == "spare parts from supplier" and e.support_end == "2025-06-30"
    # discovery never touches it
    sync(engine)
    assert register_entries(engine)[vue.id] == e
    # end of support shows in patch status and raises likelihood (already 5: stays 5)
    [s] = [s for s in patch_status(engine, TODAY) if s.machine.id == vue.id]
    assert "support contract ended 2025-06-30" in s.ended
    assert any("Windows Server 2012 R2 out of support" in x for x in s.ended)
    # export and re-import round-trips
    out = export_csv(engine)
    assert "Radiology server room 2" in out
    assert import_csv(engine, out.encode(), "roundtrip.csv").updated == 0


def test_a_register_row_for_unseen_equipment_creates_a_manual_machine(engine: Engine) -> None:
    csv = (b"manufacturer,model,serial_number,location,supplier\n"
           b"Philips,IntelliSpace Portal,ISP-9,Cardiology,Philips UK\n")
    assert import_csv(engine, csv, "new.csv").created == 1
    isp = machine(engine, "ISP-9")
    assert isp.source == "manual" and isp.image_count == 0
    assert register_entries(engine)[isp.id].supplier == "Philips UK"


@pytest.mark.parametrize(("csv", "reason"), [
    (b"id,colour\n1,red\n", "unknown column.s. colour"),
    (b"id,support_end\n1,soon\n", "row 2: support_end 'soon' is not a date"),
    (b"id,location\n99999,x\n", "row 2: no machine with id 99999"),
    (b"location\nsomewhere\n", "row 2: no id and no manufacturer"),
    (b"id,location\n1,a,b\n", "row 2 has more cells"),
])
def test_a_bad_register_file_is_rejected_whole(engine: Engine, csv: bytes, reason: str) -> None:
    before = register_entries(engine)
    with pytest.raises(ConfigError, match=reason):
        import_csv(engine, b"id,location\n1,first row is fine\n" + csv.split(b"\n", 1)[1]
                   if csv.startswith(b"id,location\n") and b"99999" not in csv
                   and b"a,b" not in csv else csv, "bad.csv")
    assert register_entries(engine) == before


def test_the_register_export_cannot_run_as_a_spreadsheet_formula(engine: Engine) -> None:
    vue = machine(engine, "VUE-01")
    import_csv(engine, f"id,notes\n{vue.id},=1+2\n".encode(), "r.csv")
    out = export_csv(engine)
    assert "'=1+2" in out and ",=1+2" not in out
    assert import_csv(engine, out.encode(), "again.csv").updated == 0  # round-trips
