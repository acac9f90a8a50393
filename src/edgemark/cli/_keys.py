"""CLI verbs for signing keys: ``edgemark keys generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgemark.cli._output import console, handled_errors, print_json


def register(app: typer.Typer) -> None:
    """Add the ``keys`` commands to ``app``."""
    keys = typer.Typer(help="Create bundle signing keys.", no_args_is_help=True)

    @keys.command("generate")
    def generate(
        directory: Annotated[
            Path, typer.Option("--dir", help="Directory for <ID>.key and <ID>.pub.")
        ],
        key_id: Annotated[
            str,
            typer.Option(
                "--key-id", help="Key id (letters, digits, '.', '_', '-'); names the files."
            ),
        ],
        as_json: Annotated[bool, typer.Option("--json", help="Print the paths as JSON.")] = False,
    ) -> None:
        """Generate an Ed25519 key pair: private key (mode 0600) and public key."""
        from edgemark.bundle import generate_keypair

        with handled_errors():
            private, public = generate_keypair(directory, key_id)
            if as_json:
                print_json(
                    {"key_id": key_id, "private_key": str(private), "public_key": str(public)}
                )
                return
            console.print(f"Private key: {private} (keep it secret; mode 0600)")
            console.print(f"Public key:  {public} (copy it into each node's trust directory)")

    app.add_typer(keys, name="keys")
