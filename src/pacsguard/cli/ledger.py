"""``pacsguard ledger``: verifier key, checkpoints, inclusion proofs, audits. Parses, calls
:mod:`pacsguard.app.ledger`, prints."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pacsguard.cli.common import DataDir, console, friendly, workspace

if TYPE_CHECKING:
    from pacsguard.app.ledger import Audited

app = typer.Typer(help="The signed ledger: keys, checkpoints, proofs and audits.",
                  no_args_is_help=True)


@app.command("key", short_help="Print the verifier key (name+keyhash+base64 key).")
@friendly
def key_cmd(data_dir: DataDir = None) -> None:
    """Print the verifier key (signed-note form: name+keyhash+base64 key)."""
    from pacsguard.app.ledger import verifier_key

    print(verifier_key(workspace(data_dir)))


@app.command("checkpoint", short_help="Sign and print the latest checkpoint, for a witness.")
@friendly
def checkpoint_cmd(data_dir: DataDir = None) -> None:
    """Sign (if the ledger grew) and print the latest checkpoint, for a witness to keep."""
    from pacsguard.app.ledger import sign_checkpoint

    print(sign_checkpoint(workspace(data_dir)), end="")


@app.command("prove", short_help="Print a JSON inclusion proof of one instance.")
@friendly
def prove_cmd(
    sop_instance_uid: str,
    sign: Annotated[bool, typer.Option(
        "--sign", help="First sign a checkpoint of the ledger as it is now (needs ledger.key), "
        "so an instance recorded since the latest checkpoint can be proven.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print a JSON inclusion proof of an instance against the latest checkpoint."""
    from pacsguard.app.ledger import prove

    print(prove(workspace(data_dir), sop_instance_uid, sign=sign).to_json())


@app.command("audit", short_help="Prove the ledger extends a witnessed checkpoint.")
@friendly
def audit_cmd(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint kept by a witness.")],
    data_dir: DataDir = None,
) -> None:
    """Prove the ledger extends an older checkpoint; fail if it was rewritten or rolled back."""
    from pacsguard.app.ledger import audit

    _render_audit(audit(workspace(data_dir), checkpoint))


def _render_audit(audited: Audited) -> None:
    for line in audited.lines:
        console.print(line, highlight=False)
    console.print("[bold green]OK[/]: the ledger extends the witnessed checkpoint")
