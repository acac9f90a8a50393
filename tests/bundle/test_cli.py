from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from edgemark.cli import _bundle, _keys


def _app() -> typer.Typer:
    app = typer.Typer()
    _keys.register(app)
    _bundle.register(app)
    return app


def test_keys_generate_then_bundle_sign_verify_pack_inspect(
    tmp_path: Path, bundle_dir: Path
) -> None:
    runner, app = CliRunner(), _app()
    keys = tmp_path / "keys"

    gen = runner.invoke(app, ["keys", "generate", "--dir", str(keys), "--key-id", "k7", "--json"])
    assert gen.exit_code == 0, gen.output
    assert json.loads(gen.output)["key_id"] == "k7"

    untrusted = runner.invoke(app, ["bundle", "verify", str(bundle_dir), "--trust", str(keys)])
    assert untrusted.exit_code == 6
    assert "not in the trust store (trusted: k7)" in untrusted.output

    signed = runner.invoke(app, ["bundle", "sign", str(bundle_dir), "--key", str(keys / "k7.key")])
    assert signed.exit_code == 0, signed.output

    archive = tmp_path / "b.tar.gz"
    packed = runner.invoke(app, ["bundle", "pack", str(bundle_dir), "--out", str(archive)])
    assert packed.exit_code == 0, packed.output

    ok = runner.invoke(app, ["bundle", "verify", str(archive), "--trust", str(keys), "--json"])
    assert ok.exit_code == 0, ok.output
    summary = json.loads(ok.output)
    assert summary["verified"] is True and summary["key_id"] == "k7"
    assert summary["version"] == "2026.01.1" and summary["offers"] == ["pct10"]

    shown = runner.invoke(app, ["bundle", "inspect", str(bundle_dir)])
    assert shown.exit_code == 0 and "unverified" in shown.output


def test_keys_generate_refuses_overwrite_with_exit_code(tmp_path: Path) -> None:
    runner, app = CliRunner(), _app()
    args = ["keys", "generate", "--dir", str(tmp_path), "--key-id", "k1"]
    assert runner.invoke(app, args).exit_code == 0

    again = runner.invoke(app, args)

    assert again.exit_code == 3
    assert "refusing to overwrite" in again.output


def test_every_command_and_option_has_help() -> None:
    # typer >= 0.29 vendors click, so walk the groups by duck typing, not isinstance(click.Group).
    group = typer.main.get_command(_app())
    subs = list(getattr(group, "commands", {}).values())
    commands = [c for sub in subs for c in getattr(sub, "commands", {}).values()]
    assert len(subs) == 2 and len(commands) == 8
    for cmd in commands:
        assert (cmd.help or "").strip(), cmd.name
        for param in cmd.params:
            assert (getattr(param, "help", None) or "").strip(), (cmd.name, param.name)


def test_keys_rotate_revoke_list_and_verify_says_what_failed(
    tmp_path: Path, bundle_dir: Path
) -> None:
    runner, app = CliRunner(), _app()
    keys = tmp_path / "keys"
    runner.invoke(app, ["keys", "generate", "--dir", str(keys), "--key-id", "k7"])
    runner.invoke(app, ["bundle", "sign", str(bundle_dir), "--key", str(keys / "k7.key")])

    rotated = runner.invoke(
        app, ["keys", "rotate", "k7", "--trust", str(keys), "--until", "2000-01-01"]
    )
    expired = runner.invoke(app, ["bundle", "verify", str(bundle_dir), "--trust", str(keys)])
    revoked = runner.invoke(
        app,
        ["keys", "revoke", "k7", "--trust", str(keys), "--on", "2026-11-01", "--reason", "leak"],
    )
    (bundle_dir / "model.onnx").write_bytes(b"changed")
    refused = runner.invoke(
        app, ["bundle", "verify", str(bundle_dir), "--trust", str(keys), "--json"]
    )
    listed = runner.invoke(app, ["keys", "list", "--trust", str(keys), "--json"])

    assert rotated.exit_code == 0, rotated.output
    assert expired.exit_code == 6 and "accepted only until 2000-01-01" in expired.output
    assert revoked.exit_code == 0
    assert refused.exit_code == 6
    body = json.loads(refused.stdout)
    failed = {c["check"]: c["detail"] for c in body["checks"] if not c["ok"]}
    assert "revoked on 2026-11-01: leak" in failed["key"]
    assert "'model.onnx' does not match" in failed["files"]
    assert body["verified"] is False
    assert json.loads(listed.output) == [
        {
            "key_id": "k7",
            "status": "revoked",
            "revoked_on": "2026-11-01",
            "reason": "leak",
            "public_key": True,
        }
    ]
    bad_date = runner.invoke(app, ["keys", "revoke", "k7", "--trust", str(keys), "--on", "soon"])
    assert bad_date.exit_code == 3 and "YYYY-MM-DD" in bad_date.output
