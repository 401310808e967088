"""The ``pacsguard`` command: parses, calls, prints. No logic lives here."""

from __future__ import annotations

import typer

from pacsguard.cli import (
    alerts,
    assess,
    demo,
    gateway,
    integrity,
    inventory,
    ledger,
    reports,
    scan,
)

app = typer.Typer(
    name="pacsguard",
    help="Keeps a hospital's medical images safe: a signed, tamper-evident ledger of every "
    "image, a verifier that finds corrupted, deleted and exchanged images, and an inventory "
    "of the imaging equipment matched against security advisories.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
integrity.register(app)
app.add_typer(ledger.app, name="ledger")
app.add_typer(inventory.app, name="inventory")
app.add_typer(alerts.app, name="alerts")
app.add_typer(gateway.app, name="gateway")
reports.register(app)
app.command("discover")(inventory.discover_cmd)
assess.register(app)
scan.register(app)
demo.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
