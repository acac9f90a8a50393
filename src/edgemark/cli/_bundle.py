"""CLI verbs for bundles: ``edgemark bundle verify | inspect | pack | sign``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import console, handled_errors, print_json


@contextmanager
def _as_dir(source: Path) -> Iterator[Path]:
    """A bundle directory for ``source``: itself, or a temporary unpacked copy of a tar.gz."""
    from edgemark.bundle import unpack_bundle
    from edgemark.errors import BundleError

    if source.is_dir():
        yield source
        return
    if not source.is_file():
        raise BundleError(f"{source} is neither a bundle directory nor a bundle archive.")
    with tempfile.TemporaryDirectory(prefix="edgemark-bundle-") as tmp:
        yield unpack_bundle(source.read_bytes(), Path(tmp) / "bundle")


def _summary(manifest: Any) -> dict[str, Any]:
    return {
        "name": manifest.name,
        "version": manifest.version,
        "key_id": manifest.key_id,
        "feature_spec_hash": manifest.feature_spec_hash,
        "files": manifest.files,
        "offers": [o["id"] for o in manifest.offers],
        "policy": manifest.policy,
        "metrics": manifest.metrics,
    }


def _print_summary(summary: dict[str, Any], title: str) -> None:
    console.print(f"[bold]{title}[/] {summary['name']} {summary['version']}")
    console.print(f"  key id:            {summary['key_id']}")
    console.print(f"  feature spec hash: {summary['feature_spec_hash']}")
    console.print(f"  offers:            {', '.join(summary['offers']) or '-'}")
    for name, digest in sorted(summary["files"].items()):
        console.print(f"  file {name}: sha256 {digest[:16]}…")
    for name, value in sorted(summary["metrics"].items()):
        console.print(f"  metric {name}: {value}")


def register(app: typer.Typer) -> None:
    """Add the ``bundle`` commands to ``app``."""
    bundle = typer.Typer(help="Verify, inspect, pack and sign bundles.", no_args_is_help=True)

    @bundle.command("verify")
    def verify(
        source: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz archive.")],
        trust: Annotated[Path, typer.Option("--trust", help="Directory of trusted *.pub keys.")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the manifest summary as JSON.")
        ] = False,
    ) -> None:
        """Check a bundle's signature against the trust store and every file's hash."""
        from edgemark.bundle import TrustStore, verify_bundle

        with handled_errors():
            store = TrustStore.from_directory(trust)
            with _as_dir(source) as directory:
                summary = _summary(verify_bundle(directory, store))
            if as_json:
                print_json({"verified": True, **summary})
            else:
                _print_summary(summary, "[green]verified[/]")

    @bundle.command("inspect")
    def inspect(
        source: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz archive.")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the manifest summary as JSON.")
        ] = False,
    ) -> None:
        """Show a bundle's manifest WITHOUT verifying it (use `bundle verify` for that)."""
        from edgemark.bundle import read_manifest

        with handled_errors():
            with _as_dir(source) as directory:
                summary = _summary(read_manifest(directory))
            if as_json:
                print_json({"verified": False, **summary})
            else:
                _print_summary(summary, "[yellow]unverified[/]")

    @bundle.command("pack")
    def pack(
        directory: Annotated[Path, typer.Argument(help="Bundle directory to pack.")],
        out: Annotated[Path, typer.Option("--out", help="Output .tar.gz file.")],
    ) -> None:
        """Pack a bundle directory into a deterministic .tar.gz archive."""
        import hashlib

        from edgemark.bundle import pack_bundle

        with handled_errors():
            data = pack_bundle(directory)
            out.write_bytes(data)
            sha = hashlib.sha256(data).hexdigest()
            console.print(f"Wrote {out} ({len(data)} bytes, sha256 {sha})")

    @bundle.command("sign")
    def sign(
        directory: Annotated[Path, typer.Argument(help="Bundle directory to (re-)sign.")],
        key: Annotated[Path, typer.Option("--key", help="Private key file (<ID>.key).")],
        key_id: Annotated[
            str | None,
            typer.Option("--key-id", help="Key id to record (default: the key file's stem)."),
        ] = None,
    ) -> None:
        """Re-sign a bundle's manifest with another key (e.g. after a key rotation)."""
        from edgemark.bundle import load_signing_key, sign_manifest

        with handled_errors():
            manifest = sign_manifest(directory, load_signing_key(key), key_id or key.stem)
            console.print(f"Signed {manifest.name} {manifest.version} with key '{manifest.key_id}'")

    app.add_typer(bundle, name="bundle")
