"""CLI verbs for signing keys: ``edgemark keys generate | list | rotate | revoke``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import console, handled_errors, print_json


def register(app: typer.Typer) -> None:
    """Add the ``keys`` commands to ``app``."""
    keys = typer.Typer(
        help="Create bundle signing keys and keep a node's keyring (rotate, revoke).",
        no_args_is_help=True,
    )

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
        openssf: Annotated[
            bool,
            typer.Option(
                "--openssf", help="An ECDSA P-256 pair for OpenSSF model signing instead."
            ),
        ] = False,
    ) -> None:
        """Generate an Ed25519 key pair (mode 0600 private key), or an OpenSSF ECDSA pair."""
        from edgemark.bundle import generate_keypair, generate_openssf_keypair

        with handled_errors():
            make = generate_openssf_keypair if openssf else generate_keypair
            private, public = make(directory, key_id)
            if as_json:
                print_json(
                    {"key_id": key_id, "private_key": str(private), "public_key": str(public)}
                )
                return
            console.print(f"Private key: {private} (keep it secret; mode 0600)")
            console.print(f"Public key:  {public} (copy it into each node's trust directory)")

    @keys.command("list")
    def list_keys(
        trust: Annotated[Path, typer.Option("--trust", help="Trust directory (*.pub, keyring).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the keyring as JSON.")] = False,
    ) -> None:
        """List the keys of a trust directory with their keyring status."""
        from edgemark.bundle import read_keyring

        with handled_errors():
            rows = _keyring_rows(trust, read_keyring(trust))
            if as_json:
                print_json(rows)
                return
            for row in rows:
                details = ", ".join(f"{k} {v}" for k, v in row.items() if k not in ("key_id",))
                console.print(f"{row['key_id']}: {details}", highlight=False)

    @keys.command("rotate")
    def rotate(
        key_id: Annotated[str, typer.Argument(help="The key id being rotated out.")],
        trust: Annotated[Path, typer.Option("--trust", help="Trust directory (*.pub, keyring).")],
        until: Annotated[
            str,
            typer.Option("--until", help="Last UTC date (YYYY-MM-DD) its signatures verify."),
        ],
        replaced_by: Annotated[
            str, typer.Option("--replaced-by", help="The key id that replaces it.")
        ] = "",
    ) -> None:
        """Mark a key rotated: its bundles still verify (flagged) until the given date."""
        from edgemark.bundle import KeyStatus, set_key_status

        with handled_errors():
            status = KeyStatus("rotated", until=_date(until), replaced_by=replaced_by)
            set_key_status(trust, key_id, status)
            console.print(f"Key '{key_id}' rotated: accepted until {until} (UTC), then refused.")

    @keys.command("revoke")
    def revoke(
        key_id: Annotated[str, typer.Argument(help="The key id to revoke.")],
        trust: Annotated[Path, typer.Option("--trust", help="Trust directory (*.pub, keyring).")],
        on: Annotated[str, typer.Option("--on", help="Revocation date (YYYY-MM-DD).")],
        reason: Annotated[str, typer.Option("--reason", help="Why (shown on refusal).")] = "",
    ) -> None:
        """Revoke a key: every bundle signed with it is refused from now on."""
        from edgemark.bundle import KeyStatus, set_key_status

        with handled_errors():
            status = KeyStatus("revoked", revoked_on=_date(on), reason=reason)
            set_key_status(trust, key_id, status)
            console.print(f"Key '{key_id}' revoked (on {on}); its bundles are refused.")

    app.add_typer(keys, name="keys")


def _date(text: str) -> date:
    from edgemark.errors import ConfigError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a date; use YYYY-MM-DD.") from None


def _keyring_rows(trust: Path, statuses: dict[str, Any]) -> list[dict[str, Any]]:
    ids = sorted({p.stem for p in trust.glob("*.pub")} | set(statuses))
    rows = []
    for key_id in ids:
        status = statuses.get(key_id)
        entry = status.to_dict() if status is not None else {"status": "trusted"}
        rows.append({"key_id": key_id, **entry, "public_key": (trust / f"{key_id}.pub").is_file()})
    return rows
