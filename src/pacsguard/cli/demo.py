"""``pacsguard demo``: the main job on an embedded default archive."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pacsguard.cli.common import console, friendly
from pacsguard.cli.integrity import print_report
from pacsguard.cli.output import new_table, print_table

if TYPE_CHECKING:
    from pacsguard.app.demo import DemoResult


@friendly
def demo_cmd(
    workdir: Annotated[Path, typer.Option(help="Where the demo archive and its data "
                                          "directory are built (replaced if present).")]
    = Path("pacsguard-demo"),
) -> None:
    """Build a sample archive, record it, tamper with it like an attacker, then verify it."""
    from pacsguard.app.demo import run

    console.rule("[bold]pacsguard demo[/]")
    result = run(workdir.resolve(), lambda s: console.print(s, highlight=False))
    console.rule("[bold]pacsguard verify[/]")
    print_report(result.report, list(result.discrepancies), [result.archive])
    console.rule("[bold]did pacsguard catch the attacker?[/]")
    _render_caught(result)
    if not result.all_detected:
        raise typer.Exit(1)


def _render_caught(result: DemoResult) -> None:
    table = new_table()
    table.add_column("what the attacker did")
    table.add_column("file", overflow="fold")
    table.add_column("expected")
    table.add_column("pacsguard said")
    cells = [[c.what, c.file, c.expected.value, ", ".join(s.value for s in c.said) or "nothing"]
             for c in result.caught]
    verdicts = ["bold green" if c.ok else "bold red" for c in result.caught]
    print_table(table, cells, styles={3: verdicts})
    style = "bold green" if result.all_detected else "bold red"
    console.print(f"[{style}]{result.detected} of {len(result.caught)} tamperings detected[/]. "
                  f"Try it yourself: pacsguard verify --data-dir {result.workspace.data_dir} "
                  f"{result.archive}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)
