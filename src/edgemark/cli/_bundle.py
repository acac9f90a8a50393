"""CLI verbs for bundles: ``edgemark bundle verify | inspect | pack | sign``."""

from __future__ import annotations

import json
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
        **{k: v for k, v in manifest.extra.items()},
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
    runtime = summary.get("runtime")
    if isinstance(runtime, dict):
        opsets = ", ".join(f"{d} {v}" for d, v in sorted(runtime.get("onnx_opsets", {}).items()))
        console.print(
            f"  runtime:           onnxruntime >= {runtime.get('min_onnxruntime')}; opsets {opsets}"
        )


def _card(directory: Path, summary: dict[str, Any]) -> dict[str, Any] | None:
    """The bundle's model card (JSON), if it ships one."""
    name = summary.get("model_card")
    if not isinstance(name, str) or name not in summary["files"]:
        return None
    try:
        card: dict[str, Any] = json.loads((directory / name).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return card


def _print_card(directory: Path, summary: dict[str, Any]) -> None:
    md = directory / "card.md"
    if "card.md" in summary["files"] and md.is_file():
        console.print("")
        console.print(md.read_text(encoding="utf-8"), markup=False, highlight=False)


def _print_checks(checks: list[dict[str, Any]]) -> None:
    for check in checks:
        mark = "[green]ok[/]  " if check["ok"] else "[red]FAIL[/]"
        console.print(f"  {mark} {check['check']:<9} {check['detail']}", highlight=False)


def _openssf_check(source: Path, directory: Path, pub: Path, sig: Path | None) -> dict[str, Any]:
    """Verify the OpenSSF signature that sits next to ``source`` (or at ``sig``)."""
    from edgemark.bundle import openssf_signature_path, verify_openssf
    from edgemark.errors import EdgemarkError

    signature = sig or openssf_signature_path(source)
    try:
        verify_openssf(directory, pub, signature)
    except EdgemarkError as exc:
        return {"check": "openssf", "ok": False, "detail": str(exc)}
    return {"check": "openssf", "ok": True, "detail": f"{signature.name} verifies"}


def _selftest_check(directory: Path, summary: dict[str, Any]) -> dict[str, Any] | None:
    """Run the bundle's self-test on this machine's ONNX Runtime (agreement 1)."""
    from edgemark.errors import EdgemarkError
    from edgemark.models import OnnxScorer, run_selftest

    name = summary.get("selftest", "selftest.json")
    model = next((f for f in sorted(summary["files"]) if f.endswith(".onnx")), None)
    if name not in summary["files"] or model is None:
        return None
    try:
        data = json.loads((directory / name).read_text(encoding="utf-8"))
        worst = run_selftest(OnnxScorer(directory / model), data)
    except (EdgemarkError, OSError, ValueError) as exc:
        return {"check": "selftest", "ok": False, "detail": str(exc)}
    rows = len(data["inputs"])
    return {"check": "selftest", "ok": True, "detail": f"{rows} rows, max |diff| {worst:.2e}"}


def register(app: typer.Typer) -> None:
    """Add the ``bundle`` commands to ``app``."""
    bundle = typer.Typer(help="Verify, inspect, pack and sign bundles.", no_args_is_help=True)

    @bundle.command("verify")
    def verify(
        source: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz archive.")],
        trust: Annotated[
            Path,
            typer.Option("--trust", help="Directory of trusted *.pub keys (and keyring.json)."),
        ],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the checks and manifest summary as JSON.")
        ] = False,
        openssf_pub: Annotated[
            Path | None,
            typer.Option("--openssf-pub", help="Also check the OpenSSF signature with this key."),
        ] = None,
        openssf_sig: Annotated[
            Path | None,
            typer.Option(
                "--openssf-sig", help="OpenSSF signature (default <bundle>.sigstore.json)."
            ),
        ] = None,
    ) -> None:
        """Check key status, signature, every file's hash, runtime needs and the self-test.

        Every check runs and is listed, so the output says exactly what failed.
        """
        from edgemark.bundle import TrustStore, read_manifest, verify_report
        from edgemark.errors import BundleError

        with handled_errors():
            store = TrustStore.from_directory(trust)
            with _as_dir(source) as directory:
                checks = verify_report(directory, store)
                summary = _summary(read_manifest(directory)) if checks[0]["ok"] else {}
                if all(c["ok"] for c in checks):
                    selftest = _selftest_check(directory, summary)
                    checks += [selftest] if selftest else []
                if openssf_pub is not None:
                    checks.append(_openssf_check(source, directory, openssf_pub, openssf_sig))
            ok = all(c["ok"] for c in checks)
            if as_json:
                print_json({"verified": ok, "checks": checks, **summary})
            else:
                if summary:
                    title = "[green]verified[/]" if ok else "[red]NOT verified[/]"
                    _print_summary(summary, title)
                _print_checks(checks)
            if not ok:
                failed = [c for c in checks if not c["ok"]]
                raise BundleError(
                    f"{len(failed)} check(s) failed: "
                    + "; ".join(f"{c['check']}: {c['detail']}" for c in failed)
                )

    @bundle.command("inspect")
    def inspect(
        source: Annotated[Path, typer.Argument(help="Bundle directory or .tar.gz archive.")],
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the manifest, card and metrics as JSON.")
        ] = False,
    ) -> None:
        """Show a bundle's manifest, model card and metrics WITHOUT verifying it."""
        from edgemark.bundle import read_manifest

        with handled_errors():
            with _as_dir(source) as directory:
                summary = _summary(read_manifest(directory))
                card = _card(directory, summary)
                if as_json:
                    print_json({"verified": False, **summary, "card": card})
                    return
                _print_summary(summary, "[yellow]unverified[/]")
                _print_card(directory, summary)

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
        key: Annotated[
            Path | None, typer.Option("--key", help="Ed25519 private key file (<ID>.key).")
        ] = None,
        key_id: Annotated[
            str | None,
            typer.Option("--key-id", help="Key id to record (default: the key file's stem)."),
        ] = None,
        openssf: Annotated[
            Path | None,
            typer.Option(
                "--openssf",
                help="Also write an OpenSSF model-signing signature with this ECDSA private "
                "key (<ID>.ec.key.pem; extra 'openssf').",
            ),
        ] = None,
        openssf_out: Annotated[
            Path | None,
            typer.Option("--openssf-out", help="Where (default: <bundle>.sigstore.json)."),
        ] = None,
    ) -> None:
        """Re-sign a bundle's manifest (e.g. after a key rotation); optionally OpenSSF-sign it."""
        from edgemark.bundle import load_signing_key, sign_manifest, sign_openssf
        from edgemark.errors import ConfigError

        with handled_errors():
            if key is None and openssf is None:
                raise ConfigError("Give --key (manifest signature) and/or --openssf (OpenSSF).")
            if key is not None:
                manifest = sign_manifest(directory, load_signing_key(key), key_id or key.stem)
                console.print(
                    f"Signed {manifest.name} {manifest.version} with key '{manifest.key_id}'"
                )
            if openssf is not None:
                path = sign_openssf(directory, openssf, openssf_out)
                console.print(f"Wrote the OpenSSF model-signing signature {path}")

    app.add_typer(bundle, name="bundle")
