"""The ``edgemark`` Typer application: one sub-command module per plane, registered here."""

from __future__ import annotations

import typer

from edgemark import __version__
from edgemark.cli import (
    _bundle,
    _content,
    _demo,
    _edge,
    _features,
    _fl,
    _hub,
    _ingest,
    _keys,
    _measure,
    _privacy,
    _sim,
    _train,
)

app = typer.Typer(
    name="edgemark",
    help="Edge-native, privacy-first marketing AI: decide at the edge, learn together, "
    "measure honestly.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgemark {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Edge-native, privacy-first marketing AI."""


for _module in (
    _sim,
    _ingest,
    _features,
    _train,
    _keys,
    _bundle,
    _hub,
    _edge,
    _measure,
    _privacy,
    _fl,
    _content,
    _demo,
):
    _module.register(app)
