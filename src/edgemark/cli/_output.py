"""Shared CLI plumbing: turning edgemark errors into messages and exit codes, JSON output,
and the options several verbs share (the hub's URL)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from edgemark.cli._exit_codes import exit_code_for
from edgemark.errors import EdgemarkError

console = Console()
err_console = Console(stderr=True)
HubUrl = Annotated[
    str,
    typer.Option(
        "--hub", envvar="EDGEMARK_HUB_URL", help="Base URL of the hub (env EDGEMARK_HUB_URL)."
    ),
]
DEFAULT_HUB = "http://127.0.0.1:8000"


@contextmanager
def handled_errors() -> Iterator[None]:
    """Print an ``EdgemarkError`` as one clear line and exit with its registered code."""
    try:
        yield
    except EdgemarkError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(int(exit_code_for(exc))) from None


def print_json(payload: Any) -> None:
    """Print ``payload`` as indented JSON on stdout, without Rich markup."""
    typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))


Register = Callable[[typer.Typer], None]
