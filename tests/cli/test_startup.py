"""How the command line starts (issue #10 §6, §7, §4): only the command being run is built and
imported, values are converted without pydantic yet exactly as Typer converts them, --version,
--data-dir before or after the command, and help that reads at 80 columns.

Start-up times are measured by benchmarks/startup_bench.py, not here: these tests check what is
imported, which is what the time depends on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from typer._click import Context
from typer._coercion import build_runtime_param
from typer.main import get_group

from pacsguard.cli import coercion
from pacsguard.cli.main import COMMANDS, app, load, summary
from tests import fleet
from tests.cli.helpers import run

SAMPLE = fleet.SAMPLES / "deid-data" / "ctbrain1.dcm"


def modules_after(*args: str | Path) -> tuple[int, set[str]]:
    """Run ``pacsguard ARGS`` in a fresh interpreter; its exit status and every module it had
    imported when it exited."""
    code = ("import atexit, json, sys\n"
            "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
            "from pacsguard.cli.main import app\n"
            "app(sys.argv[1:], prog_name='pacsguard')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACSGUARD_")}
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                       text=True, env=env, timeout=120)
    return p.returncode, set(json.loads(p.stderr.strip().splitlines()[-1]))


# ---------------------------------------------------------------------------------------------
# only what the command needs is imported
# ---------------------------------------------------------------------------------------------

COMMAND_MODULES = {f"pacsguard.cli.{e.module}" for e in COMMANDS.values()}


def test_help_imports_no_command_and_neither_sqlalchemy_nor_pydantic() -> None:
    status, loaded = modules_after("--help")
    assert status == 0
    assert not loaded & COMMAND_MODULES
    for heavy in ("sqlalchemy", "pydantic", "pydicom", "numpy", "cryptography",
                  "pacsguard.scan", "pacsguard.integrity.ledger"):
        assert heavy not in loaded, heavy


def test_version_imports_no_command() -> None:
    status, loaded = modules_after("--version")
    assert status == 0
    assert not loaded & COMMAND_MODULES and "sqlalchemy" not in loaded


def test_verify_imports_only_what_verifying_files_needs(tmp_path: Path) -> None:
    home, empty = tmp_path / "home", tmp_path / "empty"
    empty.mkdir()
    assert run("init", "--data-dir", home).exit_code == 0
    assert run("ledger", "checkpoint", "--data-dir", home).exit_code == 0
    status, loaded = modules_after("verify", "--data-dir", home, empty)
    assert status == 0  # nothing recorded under an empty folder: all intact
    assert loaded & COMMAND_MODULES == {"pacsguard.cli.integrity"}
    for unneeded in ("pydantic", "pydicom", "numpy", "alembic", "pacsguard.scan",
                     "pacsguard.advisories.match", "pacsguard.gateway.receiver", "jsonschema"):
        assert unneeded not in loaded, unneeded


def test_record_of_one_file_imports_no_pydantic_and_no_other_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run("init", "--data-dir", home).exit_code == 0
    status, loaded = modules_after("record", "--data-dir", home, SAMPLE)
    assert status == 0
    assert loaded & COMMAND_MODULES == {"pacsguard.cli.integrity"}
    assert "pydantic" not in loaded and "pacsguard.scan" not in loaded


# ---------------------------------------------------------------------------------------------
# every command is still there, and converts its values as Typer does
# ---------------------------------------------------------------------------------------------


def test_every_listed_command_loads_and_carries_its_summary() -> None:
    for name, entry in COMMANDS.items():
        cmd = load(name)
        assert cmd.name == name and cmd.short_help == entry.summary
        assert len(entry.summary) <= 60, name  # one line beside the longest name at 80


def test_the_command_table_names_every_command_the_modules_define() -> None:
    """No command is forgotten: each group's Typer and each register() in the CLI modules
    gives exactly the commands of the table."""
    import typer

    from pacsguard.cli import assess, demo, integrity, reports, scan

    full = typer.Typer()
    for module in (integrity, reports, assess, scan, demo):
        module.register(full)
    from pacsguard.cli import alerts, gateway, inventory, ledger

    for name, sub in (("ledger", ledger.app), ("inventory", inventory.app),
                      ("alerts", alerts.app), ("gateway", gateway.app)):
        full.add_typer(sub, name=name)
    full.command("discover")(inventory.discover_cmd)
    assert set(get_group(full).commands) == set(COMMANDS)


SAMPLES: dict[Any, list[Any]] = {
    str: ["text with spaces", "-", ""],
    int: ["5", "-3", "0", "+7"],
    float: ["2.5", "3", "1e3", ".5"],
    Path: ["some/path", "/tmp", "."],
    bool: [True, False],
}


def _samples(annotation: Any) -> list[Any]:
    if getattr(annotation, "__origin__", None) is list:
        inner = SAMPLES[annotation.__args__[0]]
        return [inner[:2], inner[:1]]
    return SAMPLES[annotation]


def test_plain_values_convert_exactly_as_typer_converts_them() -> None:
    checked = 0
    for name in COMMANDS:
        cmd = load(name)
        commands = [cmd, *getattr(cmd, "commands", {}).values()]
        for c in commands:
            ctx = Context(c)
            coercion.install_tree(c, ctx)
            for p in c.params:
                fast = p._runtime_param
                if not isinstance(fast, coercion._plain_param()):  # type: ignore[arg-type]
                    continue
                slow = build_runtime_param(p.type_descriptor)
                values = _samples(p.type_descriptor.annotation)
                if p.default is not None:
                    values.append(p.default)
                for v in values:
                    ours = theirs = None
                    try:
                        theirs = slow._coerce_value(v, param=p, ctx=ctx)
                    except Exception as exc:
                        theirs = f"error: {exc}"
                    try:
                        ours = fast._coerce_value(v, param=p, ctx=ctx)
                    except Exception as exc:
                        ours = f"error: {exc}"
                    assert ours == theirs and type(ours) is type(theirs), (c.name, p.name, v)
                    checked += 1
    assert checked > 200


@pytest.mark.parametrize(("args", "message"), [
    (["verify", "--workers", "x"], "Input should be a valid integer"),
    (["record", "--commit-every", "0", "x"], "greater than or equal to 1"),
    (["assess", "127.0.0.1:1", "--rate", "500"], "less than or equal to 50"),
])
def test_bad_values_get_typers_own_message(args: list[str], message: str) -> None:
    r = run(*args)
    assert r.exit_code == 2
    assert message in " ".join(r.output.split())


# ---------------------------------------------------------------------------------------------
# --version, --data-dir before the command, unknown commands
# ---------------------------------------------------------------------------------------------


def test_version_prints_the_installed_version() -> None:
    r = run("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"pacsguard {version('pacsguard')}"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    assert run("init", "--data-dir", h).exit_code == 0
    return h


def test_data_dir_is_accepted_before_the_command_as_well_as_after_it(home: Path) -> None:
    after = run("ledger", "key", "--data-dir", home)
    before = run("--data-dir", home, "ledger", "key")
    assert after.exit_code == before.exit_code == 0, before.output
    assert before.stdout == after.stdout and "+" in before.stdout


def test_data_dir_before_the_command_reaches_a_nested_command(home: Path,
                                                              tmp_path: Path) -> None:
    r = run("--data-dir", home, "inventory", "list", "--format", "json")
    assert r.exit_code == 0, r.output
    elsewhere = run("--data-dir", tmp_path / "nowhere", "inventory", "list")
    assert elsewhere.exit_code == 2
    assert "nowhere" in elsewhere.output and "pacsguard init" in elsewhere.output


def test_data_dir_given_twice_must_name_the_same_directory(home: Path, tmp_path: Path) -> None:
    same = run("--data-dir", home, "ledger", "key", "--data-dir", str(home) + "/")
    assert same.exit_code == 0, same.output
    other = tmp_path / "other"
    r = run("--data-dir", home, "ledger", "key", "--data-dir", other)
    assert r.exit_code == 2
    text = " ".join(r.output.split())
    assert "given twice" in text and str(home) in text and str(other) in text


def test_an_unknown_command_is_refused_with_the_nearest_names() -> None:
    r = run("verfy")
    assert r.exit_code == 2
    assert "No such command 'verfy'" in r.output and "'verify'" in r.output


# ---------------------------------------------------------------------------------------------
# help at 80 columns: one paragraph per command, listed on one line each
# ---------------------------------------------------------------------------------------------


def _all_command_paths() -> list[list[str]]:
    paths: list[list[str]] = []
    for name in COMMANDS:
        cmd = load(name)
        paths.append([name])
        paths.extend([name, sub] for sub in getattr(cmd, "commands", {}))
    return paths


@pytest.mark.parametrize("path", [[], *_all_command_paths()], ids=" ".join)
def test_help_fits_80_columns_and_shows_the_commands_paragraph_whole(path: list[str]) -> None:
    r = run(*path, "--help", columns=80)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    cmd: Any = app if not path else load(path[0])
    for part in path[1:]:
        cmd = cmd.commands[part]
    if path:
        paragraphs = (cmd.help or "").split("\n\n")
        assert len(paragraphs) == 1, "one paragraph of help per command"
        assert " ".join(paragraphs[0].split()) in " ".join(r.output.replace("│", " ").split())
    for sub in getattr(cmd, "commands", {}).values() if path else []:
        assert any(sub.short_help in line for line in lines), sub.name  # on one line
    if not path:
        for name, entry in COMMANDS.items():
            assert any(name in line and entry.summary in line for line in lines), name


def test_a_listing_falls_back_to_the_first_sentence_of_the_help() -> None:
    assert summary("Do this (a, b. c) now.\n    More: here. And more.") == \
        "Do this (a, b. c) now."
    assert summary("One line") == "One line"
