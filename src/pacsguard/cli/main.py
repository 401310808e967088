"""The ``pacsguard`` command: parses, calls, prints. No logic lives here.

Only the command being run is built: each command's module (and what it imports: SQLAlchemy,
pydicom, the scanner, the advisory matcher...) is imported when that command is invoked, and
``pacsguard --help`` lists the commands from the table below without importing any of them
(docs/cli.md, issue #10 §6).
"""

from __future__ import annotations

import difflib
import importlib
from typing import Annotated, Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from pacsguard.cli import coercion
from pacsguard.cli.common import DataDir


class Entry(NamedTuple):
    """Where a command lives (``pacsguard.cli.MODULE``, attribute ``ATTR``: a command function
    or a ``typer.Typer`` group) and its one-line summary for ``pacsguard --help``."""

    module: str
    attr: str
    summary: str


#: Every top-level command, in the order ``pacsguard --help`` lists them. The summaries fit
#: one line of an 80-column terminal; a test keeps them in step with the commands.
COMMANDS: dict[str, Entry] = {
    "init": Entry("integrity", "init_cmd",
                  "Create the data directory, signing key and ledger database."),
    "record": Entry("integrity", "record_cmd",
                    "Fingerprint DICOM files and append them to the ledger."),
    "verify": Entry("integrity", "verify_cmd",
                    "Compare files (or what a PACS holds) with the ledger."),
    "ledger": Entry("ledger", "app", "The signed ledger: key, checkpoints, proofs, audits."),
    "scan": Entry("scan", "scan_cmd", "Scan DICOM files for weaponised content."),
    "inventory": Entry("inventory", "app", "The imaging equipment seen in the images."),
    "discover": Entry("inventory", "discover_cmd",
                      "Ask named DICOM nodes who they are, for the inventory."),
    "alerts": Entry("alerts", "app", "Security advisories and the machines they hit."),
    "patch": Entry("reports", "patch_app", "Patch status of the imaging equipment."),
    "report": Entry("reports", "report_cmd", "Write the governance report as one HTML page."),
    "gateway": Entry("gateway", "app", "The integrity gateway between modalities and PACS."),
    "assess": Entry("assess", "assess_cmd", "Assess one DICOM node you are authorised to test."),
    "assess-replay": Entry("assess", "replay_cmd",
                           "Replay a fuzz reproducer to a node, then check it is alive."),
    "demo": Entry("demo", "demo_cmd", "Record a sample archive, tamper with it, verify it."),
}


def summary(help_text: str | None) -> str:
    """A command's line in its group's listing when it sets no ``short_help``: its help's first
    sentence, on one line (Typer's rich listing would keep a docstring's hard line breaks)."""
    text = " ".join((help_text or "").split("\n\n")[0].split())
    depth = 0
    for i, c in enumerate(text):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0 and c == "." and text[i + 1 : i + 2] in (" ", ""):
            return text[: i + 1]
    return text


def _one_line_listings(group: TyperGroup) -> None:
    for cmd in group.commands.values():
        if cmd.short_help is None:
            cmd.short_help = summary(cmd.help)
        if isinstance(cmd, TyperGroup):
            _one_line_listings(cmd)


def load(name: str) -> Any:
    """Import the command ``name``'s module and build its Click command (or group)."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(f"pacsguard.cli.{entry.module}"), entry.attr)
    cmd: Any
    if isinstance(target, typer.Typer):
        cmd = typer.main.get_group(target)
        _one_line_listings(cmd)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(target)
        cmd = typer.main.get_command(single)
    cmd.name = name
    cmd.short_help = entry.summary
    return cmd


class LazyGroup(TyperGroup):
    """The top-level group: builds a command when it is invoked, not before."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False
        self._loaded: dict[str, Any] = {}
        coercion.install(self.params)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        coercion.install([option])
        return option

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # the help's command list needs the names and summaries only
            return TyperCommand(cmd_name, help=entry.summary, short_help=entry.summary)
        if cmd_name not in self._loaded:
            self._loaded[cmd_name] = load(cmd_name)
            coercion.install_tree(self._loaded[cmd_name], ctx)
        return self._loaded[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] not in COMMANDS and not args[0].startswith("-"):
            near = difflib.get_close_matches(args[0], list(COMMANDS))
            hint = f" Did you mean {', '.join(repr(n) for n in near)}?" if near else ""
            ctx.fail(f"No such command {args[0]!r}.{hint}")
        return super().resolve_command(ctx, args)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"pacsguard {version('pacsguard')}")
        raise typer.Exit()


app = typer.Typer(
    name="pacsguard",
    cls=LazyGroup,
    help="Keeps a hospital's medical images safe: a signed, tamper-evident ledger of every "
    "image, a verifier that finds corrupted, deleted and exchanged images, and an inventory "
    "of the imaging equipment matched against security advisories.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def main(
    version: Annotated[bool, typer.Option(
        "--version", callback=_show_version, is_eager=True,
        help="Print pacsguard's version and exit.")] = False,
    data_dir: DataDir = None,
) -> None:
    """(The help is the Typer's, above.) A --data-dir given here is taken up by each
    command's own --data-dir option (cli.common.DataDir)."""


if __name__ == "__main__":  # pragma: no cover
    app()
