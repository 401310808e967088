"""``pacsguard ledger``: verifier key, checkpoints, inclusion proofs, audits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pacsguard.cli.common import DataDir, console, friendly, workspace
from pacsguard.errors import ConfigError

app = typer.Typer(help="The signed ledger: keys, checkpoints, proofs and audits.",
                  no_args_is_help=True)


@app.command("key", short_help="Print the verifier key (name+keyhash+base64 key).")
@friendly
def key_cmd(data_dir: DataDir = None) -> None:
    """Print the verifier key (signed-note form: name+keyhash+base64 key)."""
    ws = workspace(data_dir)
    ws.settings()
    if not ws.pub_path.exists():
        raise ConfigError(f"{ws.pub_path} is missing; run 'pacsguard init'")
    print(ws.pub_path.read_text().strip())


@app.command("checkpoint", short_help="Sign and print the latest checkpoint, for a witness.")
@friendly
def checkpoint_cmd(data_dir: DataDir = None) -> None:
    """Sign (if the ledger grew) and print the latest checkpoint, for a witness to keep."""
    ws = workspace(data_dir)
    ledger, _, _ = ws.open_ledger()
    note = ledger.sign_checkpoint()
    ws.save_checkpoint_copy(note)
    print(note, end="")


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
    ws = workspace(data_dir)
    if sign:
        ledger, _, _ = ws.open_ledger()
        ws.save_checkpoint_copy(ledger.sign_checkpoint())
    else:
        ledger, _, _ = ws.open_ledger(read_only=True)
    print(ledger.prove(sop_instance_uid).to_json())


@app.command("audit", short_help="Prove the ledger extends a witnessed checkpoint.")
@friendly
def audit_cmd(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint kept by a witness.")],
    data_dir: DataDir = None,
) -> None:
    """Prove the ledger extends an older checkpoint; fail if it was rewritten or rolled back."""
    try:
        note = checkpoint.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{checkpoint}: cannot be read ({exc})") from None
    ledger, _, _ = workspace(data_dir).open_ledger(read_only=True)
    for line in ledger.audit(note):
        console.print(line, highlight=False)
    console.print("[bold green]OK[/]: the ledger extends the witnessed checkpoint")
