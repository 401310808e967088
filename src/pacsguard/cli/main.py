"""The ``pacsguard`` command: parses, calls, prints. No logic lives here."""

from __future__ import annotations

import typer

from pacsguard.cli import demo, integrity, ledger

app = typer.Typer(
    name="pacsguard",
    help="Keeps a hospital's medical images safe: a signed, tamper-evident ledger of every "
    "image and a verifier that finds corrupted, deleted and exchanged images.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
integrity.register(app)
app.add_typer(ledger.app, name="ledger")
demo.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
