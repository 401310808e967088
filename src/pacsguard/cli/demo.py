"""``pacsguard demo``: the main job on an embedded default archive."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pacsguard.cli.common import console, friendly
from pacsguard.cli.integrity import print_report
from pacsguard.cli.output import new_table, print_table
from pacsguard.integrity.status import Status
from pacsguard.integrity.verify import verify


@friendly
def demo_cmd(
    workdir: Annotated[Path, typer.Option(help="Where the demo archive and its data "
                                          "directory are built (replaced if present).")]
    = Path("pacsguard-demo"),
) -> None:
    """Build a sample archive, record it, tamper with it like an attacker, then verify it."""
    from pacsguard.demo.scenario import run_demo  # pydicom and numpy: only the demo needs them

    console.rule("[bold]pacsguard demo[/]")
    ws, archive, attacks = run_demo(workdir.resolve(),
                                    lambda s: console.print(s, highlight=False))
    console.rule("[bold]pacsguard verify[/]")
    ledger, profile, attr_key = ws.open_ledger(read_only=True)
    report, found = verify(ledger, profile, attr_key, [archive],
                           witnessed=ws.checkpoint_copy.read_text())
    findings = list(found)
    print_report(report, findings, [archive])
    console.rule("[bold]did pacsguard catch the attacker?[/]")
    table = new_table()
    table.add_column("what the attacker did")
    table.add_column("file", overflow="fold")
    table.add_column("expected")
    table.add_column("pacsguard said")
    cells: list[list[str]] = []
    verdicts: list[str] = []
    caught = 0
    for a in attacks:
        said = [f.status for f in findings if f.path == a.path]
        ok = a.expected in said
        caught += ok
        cells.append([a.what, str(Path(a.path).relative_to(archive)), a.expected.value,
                      ", ".join(s.value for s in said) or "nothing"])
        verdicts.append("bold green" if ok else "bold red")
    ledger_flagged = any(f.status is Status.LEDGER_TAMPERED and f.path == "(ledger)"
                         for f in findings)
    cells.append(["edited a ledger row behind the tool's back", "(ledger database)",
                  "ledger_tampered", "ledger_tampered" if ledger_flagged else "nothing"])
    verdicts.append("bold green" if ledger_flagged else "bold red")
    print_table(table, cells, styles={3: verdicts})
    total = len(attacks) + 1
    caught += ledger_flagged
    style = "bold green" if caught == total else "bold red"
    console.print(f"[{style}]{caught} of {total} tamperings detected[/]. "
                  f"Try it yourself: pacsguard verify --data-dir {ws.data_dir} {archive}",
                  highlight=False)
    if caught != total:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
