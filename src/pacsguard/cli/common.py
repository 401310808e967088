"""Shared CLI plumbing: the data-directory option, consoles, and turning errors into messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from pacsguard.errors import PacsguardError
from pacsguard.workspace import Workspace, resolve_data_dir

console = Console()
# soft_wrap: a message (a long path) stays on one line when stderr is a file or a pipe
err_console = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (else $PACSGUARD_HOME, else the user's "
                 "data directory).", show_default=False),
]


def workspace(data_dir: Path | None) -> Workspace:
    return Workspace(resolve_data_dir(data_dir))


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
        except SQLAlchemyError as exc:  # a database failure no module turned into a message
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
