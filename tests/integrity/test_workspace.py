"""Specification of the data directory (pacsguard.workspace; docs/ledger.md §Files).

A data directory is self-contained: its SQLite ledger is named relative to it, so a copy or a
restore uses its own database, and a configuration that points outside its directory without
saying so is refused, naming both paths.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydicom import dcmread
from typer.testing import CliRunner, Result

from pacsguard.cli.main import app
from pacsguard.workspace import Workspace

SAMPLES = Path(__file__).resolve().parents[2] / "src" / "pacsguard" / "demo" / "samples"
ORIGIN = "workspace.test.pacsguard.local/ledger"


def run(*args: str | Path) -> Result:
    r = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "1000"})
    assert "Traceback" not in r.output
    return r


def flat(text: str) -> str:
    return " ".join(text.split())


def size_of(home: Path) -> int:
    ledger, _, _ = Workspace(home).open_ledger(read_only=True)
    try:
        return ledger.size()
    finally:
        ledger.engine.dispose()


def set_database_url(home: Path, url: str, extra: str = "") -> None:
    config = home / "pacsguard.toml"
    lines = [ln for ln in config.read_text().splitlines() if not ln.startswith("database_url")]
    config.write_text("\n".join([*lines, f'database_url = "{url}"', extra]) + "\n")


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    dest = tmp_path / "archive"
    for folder in ("deid-data", "pydicom-data"):
        shutil.copytree(SAMPLES / folder, dest / folder, ignore=shutil.ignore_patterns("LIC*"))
    return dest


@pytest.fixture
def site(tmp_path: Path, archive: Path) -> Path:
    """A data directory made by ``pacsguard init`` with the deid-data folder recorded."""
    home = tmp_path / "site"
    assert run("init", "--data-dir", home, "--origin", ORIGIN).exit_code == 0
    r = run("record", "--data-dir", home, "--workers", "1", archive / "deid-data")
    assert r.exit_code in (0, 1), r.output  # 1: ctbrain2 shares ctbrain1's UID
    return home


def test_init_names_the_sqlite_ledger_relative_to_the_data_directory(site: Path) -> None:
    text = (site / "pacsguard.toml").read_text()
    assert 'database_url = "sqlite:///ledger.sqlite"' in text
    assert str(site) not in text
    assert Workspace(site).settings()["database_url"] == f"sqlite:///{site / 'ledger.sqlite'}"


def test_a_copied_data_directory_records_into_its_own_database_not_the_original(
    site: Path, archive: Path, tmp_path: Path
) -> None:
    before = size_of(site)
    copy = tmp_path / "restored" / "site"
    shutil.copytree(site, copy)

    r = run("record", "--data-dir", copy, "--workers", "1", archive / "pydicom-data")

    assert r.exit_code == 0, r.output
    assert size_of(site) == before
    assert size_of(copy) > before
    assert (copy / "latest-checkpoint").read_text() != (site / "latest-checkpoint").read_text()


def test_a_database_outside_the_data_directory_is_refused_naming_both_paths_unless_allowed(
    site: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    shutil.copytree(site, other)
    set_database_url(other, f"sqlite:///{site / 'ledger.sqlite'}")

    r = run("ledger", "checkpoint", "--data-dir", other)

    assert r.exit_code == 2
    message = flat(r.stderr)
    assert f"names the ledger database {site / 'ledger.sqlite'}, outside its data directory " \
        f"{other}" in message
    assert 'set database_url = "sqlite:///ledger.sqlite"' in message
    assert f"add allow_external_database = true to {other / 'pacsguard.toml'}" in message
    assert r.stdout == ""

    set_database_url(other, f"sqlite:///{site / 'ledger.sqlite'}",
                     "allow_external_database = true")
    r = run("ledger", "checkpoint", "--data-dir", other)
    assert r.exit_code == 0, r.output
    assert f"\n{size_of(site)}\n" in r.stdout


def test_an_older_configuration_naming_its_own_database_absolutely_works_and_init_relativises_it(
    site: Path, archive: Path, tmp_path: Path
) -> None:
    set_database_url(site, f"sqlite:///{site / 'ledger.sqlite'}")  # what init wrote before
    assert run("ledger", "checkpoint", "--data-dir", site).exit_code == 0
    stale = tmp_path / "stale-copy"
    shutil.copytree(site, stale)
    r = run("record", "--data-dir", stale, "--workers", "1", archive / "pydicom-data")
    assert r.exit_code == 2
    assert f"names the ledger database {site / 'ledger.sqlite'}" in flat(r.stderr)

    r = run("init", "--data-dir", site)

    assert r.exit_code == 0, r.output
    assert "now relative to the data directory" in flat(r.stdout)
    assert 'database_url = "sqlite:///ledger.sqlite"' in (site / "pacsguard.toml").read_text()
    fresh = tmp_path / "fresh-copy"
    shutil.copytree(site, fresh)
    before = size_of(site)
    assert run("record", "--data-dir", fresh, "--workers", "1",
               archive / "pydicom-data").exit_code == 0
    assert (size_of(site), size_of(fresh) > before) == (before, True)


def test_init_with_a_sqlite_database_outside_the_data_directory_says_so_in_the_configuration(
    tmp_path: Path, archive: Path
) -> None:
    home, db = tmp_path / "home", tmp_path / "shared-disk" / "ledger.sqlite"
    db.parent.mkdir()

    r = run("init", "--data-dir", home, "--database-url", f"sqlite:///{db}")

    assert r.exit_code == 0, r.output
    assert "outside the data directory" in flat(r.stdout)
    text = (home / "pacsguard.toml").read_text()
    assert f'database_url = "sqlite:///{db}"' in text
    assert "allow_external_database = true" in text
    r = run("record", "--data-dir", home, "--workers", "1", archive / "pydicom-data")
    assert r.exit_code == 0, r.output
    assert db.stat().st_size > 0 and not (home / "ledger.sqlite").exists()
    assert run("init", "--data-dir", home, "--database-url", f"sqlite:///{db}").exit_code == 0


def test_a_relative_sqlite_url_given_to_init_is_inside_the_data_directory_wherever_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.chdir(tmp_path)

    assert run("init", "--data-dir", home, "--database-url", "sqlite:///l.sqlite"
               ).exit_code == 0

    assert (home / "l.sqlite").exists()
    assert not (tmp_path / "l.sqlite").exists()
    assert 'database_url = "sqlite:///l.sqlite"' in (home / "pacsguard.toml").read_text()


# ---------------------------------------------------------------------------------------------
# joining a shared ledger (docs/ledger.md, 'Joining a shared ledger')
# ---------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_second_machine_joins_a_shared_ledger_once_it_has_the_ledger_and_attribute_keys(
    tmp_path: Path, archive: Path, postgres_url: str
) -> None:
    first, second = tmp_path / "machine-a", tmp_path / "machine-b"
    assert run("init", "--data-dir", first, "--database-url", postgres_url, "--origin",
               ORIGIN).exit_code == 0
    assert run("record", "--data-dir", first, "--workers", "1",
               archive / "pydicom-data").exit_code == 0

    r = run("init", "--data-dir", second, "--database-url", postgres_url)

    assert r.exit_code == 2
    message = flat(r.stderr)
    assert f"already holds the ledger '{ORIGIN}', and this data directory has no ledger.key " \
        "or attr.key" in message
    assert f"copy ledger.key and attr.key (mode 0600) and ledger.pub from the data directory " \
        f"of a machine that uses it into {second}" in message
    assert postgres_url not in message  # the password stays out of messages
    assert sorted(p.name for p in second.iterdir()) == []  # nothing made up

    for name in ("ledger.key", "attr.key", "ledger.pub"):
        shutil.copy2(first / name, second / name)
    r = run("init", "--data-dir", second, "--database-url", postgres_url)
    assert r.exit_code == 0, r.output
    assert not any("created" in line for line in r.stdout.splitlines())
    assert Workspace(second).settings()["origin"] == ORIGIN  # the ledger's own name
    size = size_of(first)
    r = run("record", "--data-dir", second, "--workers", "1", archive / "deid-data")
    assert r.exit_code in (0, 1), r.output
    assert size_of(first) > size

    victim = archive / "deid-data" / "GREYSCALE_IMAGE.dcm"
    ds = dcmread(victim)
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(victim)
    r = run("verify", "--data-dir", first, "--workers", "1", "--format", "json", victim)
    assert r.exit_code == 1
    *findings, summary = [json.loads(line) for line in r.stdout.splitlines()]
    assert "summary" in summary  # the last line (docs/cli.md)
    (finding,) = findings
    assert finding["status"] == "identity_altered"
    assert finding["detail"].split(";")[0] == "clinical attributes changed: PatientID"


def test_init_refuses_to_give_a_ledger_new_keys_when_its_attribute_key_is_missing(
    site: Path, tmp_path: Path
) -> None:
    (site / "attr.key").unlink()

    r = run("init", "--data-dir", site)

    assert r.exit_code == 2
    assert "this data directory has no attr.key" in flat(r.stderr)
    assert not (site / "attr.key").exists()


def test_a_wrong_or_missing_attribute_key_stops_writers_and_a_missing_one_lets_verify_run(
    site: Path, archive: Path
) -> None:
    good = (site / "attr.key").read_bytes()
    (site / "attr.key").write_bytes(bytes(32))
    r = run("record", "--data-dir", site, "--workers", "1", archive / "pydicom-data")
    assert r.exit_code == 2
    assert f"{site / 'attr.key'} is not the attribute key of this ledger" in flat(r.stderr)
    assert run("verify", "--data-dir", site, "--workers", "1", archive).exit_code == 2

    (site / "attr.key").unlink()
    r = run("record", "--data-dir", site, "--workers", "1", archive / "pydicom-data")
    assert r.exit_code == 2
    assert f"the attribute key {site / 'attr.key'} is not on this machine" in flat(r.stderr)

    victim = archive / "deid-data" / "GREYSCALE_IMAGE.dcm"
    ds = dcmread(victim)
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(victim)
    r = run("verify", "--data-dir", site, "--workers", "1", "--format", "json", victim)
    assert r.exit_code == 1, r.output
    *findings, summary = [json.loads(line) for line in r.stdout.splitlines()]
    assert "summary" in summary  # the last line (docs/cli.md)
    (finding,) = findings
    assert finding["status"] == "identity_altered"
    # without the key no attribute can be named, and none is named wrongly
    assert finding["detail"].split(";")[0] == \
        "clinical attributes changed: patient/examination attributes"
    (site / "attr.key").write_bytes(good)
    r = run("verify", "--data-dir", site, "--workers", "1", "--format", "json", victim)
    assert json.loads(r.stdout.splitlines()[0])["detail"].split(";")[0] == \
        "clinical attributes changed: PatientID"
