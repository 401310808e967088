"""Shared CLI plumbing: the data-directory option, consoles, and turning errors into messages.

Imported by every command, so it imports nothing heavy: the workspace (SQLAlchemy, the
ledger, cryptography) is imported when a command opens it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from pacsguard.errors import PacsguardError

if TYPE_CHECKING:
    from pacsguard.workspace import Workspace

console = Console()
# soft_wrap: a message (a long path) stays on one line when stderr is a file or a pipe
err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])



def _data_dir_given_before(ctx: typer.Context, value: Path | None) -> Path | None:
    """``pacsguard --data-dir D COMMAND`` means ``pacsguard COMMAND --data-dir D``; given
    both ways, the two must name the same directory."""
    root = ctx.find_root()
    outer = root.params.get("data_dir") if root is not ctx else None
    if outer is None:
        return value
    if value is None:
        return outer  # type: ignore[no-any-return]
    if value.expanduser().resolve() != outer.expanduser().resolve():
        raise typer.BadParameter(f"given twice, as {outer} before the command and as {value} "
                                 "after it; give it once")
    return value


DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (else $PACSGUARD_HOME, else the user's "
                 "data directory); before or after the command name.", show_default=False,
                 callback=_data_dir_given_before),
]


def workspace(data_dir: Path | None) -> Workspace:
    from pacsguard.workspace import Workspace, resolve_data_dir

    return Workspace(resolve_data_dir(data_dir))


def _database_error(exc: BaseException) -> bool:
    """A SQLAlchemy error (SQLAlchemy is imported only by the commands that open a database,
    so one that was never imported cannot have raised)."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    return sqlalchemy_exc is not None and isinstance(exc, sqlalchemy_exc.SQLAlchemyError)


def friendly(func: F) -> F:
    """Print expected failures as one clear message and exit 2; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PacsguardError as exc:
            # escaped: messages quote file names and config keys like [[destination]]
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            sys.exit(2)
        except Exception as exc:  # a database failure no module turned into a message
            if not _database_error(exc):
                raise
            err_console.print(f"[bold red]error:[/] database error: "
                              f"{getattr(exc, 'orig', None) or exc.__class__.__name__}; check "
                              "that the ledger database is reachable, not full, and at the "
                              "schema 'pacsguard init' makes", highlight=False)
            sys.exit(2)
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: committed batches are kept; run the "
                              "same command again to resume")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
