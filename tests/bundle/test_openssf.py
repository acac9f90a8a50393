from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from edgemark.bundle import generate_openssf_keypair, sign_openssf, verify_openssf
from edgemark.cli import _bundle, _keys
from edgemark.errors import BundleSignatureError, ConfigError

pytest.importorskip("model_signing")


def test_openssf_signature_verifies_and_catches_a_changed_file(
    tmp_path: Path, bundle_dir: Path
) -> None:
    private, public = generate_openssf_keypair(tmp_path / "keys", "hub")

    sig = sign_openssf(bundle_dir, private)
    verify_openssf(bundle_dir, public)

    envelope = json.loads(sig.read_text())
    assert sig == bundle_dir.with_name("bundle.sigstore.json")
    assert envelope["mediaType"].startswith("application/vnd.dev.sigstore.bundle")
    assert "dsseEnvelope" in envelope
    (bundle_dir / "model.onnx").write_bytes(b"changed")
    with pytest.raises(BundleSignatureError, match="does not verify"):
        verify_openssf(bundle_dir, public)
    with pytest.raises(ConfigError, match="outside the bundle"):
        sign_openssf(bundle_dir, private, bundle_dir / "sig.json")


def test_cli_openssf_sign_and_verify(tmp_path: Path, bundle_dir: Path) -> None:
    app = typer.Typer()
    _keys.register(app)
    _bundle.register(app)
    runner = CliRunner()
    keys = tmp_path / "keys"
    runner.invoke(app, ["keys", "generate", "--dir", str(keys), "--key-id", "k1"])
    gen = runner.invoke(
        app, ["keys", "generate", "--dir", str(keys), "--key-id", "oss", "--openssf"]
    )

    signed = runner.invoke(
        app,
        ["bundle", "sign", str(bundle_dir), "--key", str(keys / "k1.key"),
         "--openssf", str(keys / "oss.ec.key.pem")],
    )  # fmt: skip
    verified = runner.invoke(
        app,
        ["bundle", "verify", str(bundle_dir), "--trust", str(keys),
         "--openssf-pub", str(keys / "oss.ec.pub.pem"), "--json"],
    )  # fmt: skip

    assert gen.exit_code == 0 and signed.exit_code == 0, signed.output
    checks = {c["check"]: c["ok"] for c in json.loads(verified.output)["checks"]}
    assert checks["openssf"] is True and all(checks.values()), verified.output
