"""The hub's CLI verbs (registered on a fresh Typer app) against a real hub."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from edgemark.cli import _hub
from edgemark.hub import AdminClient, HubSettings, ServerThread

from ._support import ADMIN_TOKEN

ENV = {"EDGEMARK_ADMIN_TOKEN": ADMIN_TOKEN}


def app() -> typer.Typer:
    a = typer.Typer()
    _hub.register(a)
    return a


def test_enrol_upload_rollout_and_status(
    hub: ServerThread, make_bundle: Callable[..., bytes], tmp_path: Path
) -> None:
    runner, cli, url = CliRunner(), app(), ["--hub", hub.url]
    archive = tmp_path / "v1.tar.gz"
    archive.write_bytes(make_bundle("v1"))

    enrolled = runner.invoke(cli, ["nodes", "enrol", "store-1", *url, "--json"], env=ENV)
    uploaded = runner.invoke(cli, ["hub", "upload", str(archive), *url], env=ENV)
    started = runner.invoke(cli, ["rollout", "start", "v1", "--waves", "50,100", *url], env=ENV)
    status = runner.invoke(cli, ["rollout", "status", *url, "--json"], env=ENV)
    table = runner.invoke(cli, ["rollout", "status", *url], env=ENV)
    nodes = runner.invoke(cli, ["nodes", "list", *url, "--json"], env=ENV)

    for result in (enrolled, uploaded, started, status, table, nodes):
        assert result.exit_code == 0, result.output
    assert set(json.loads(enrolled.output)) == {"node_id", "node_token"}
    assert "wave 1 of 2 started (1 node)" in started.output
    (rollout,) = json.loads(status.output)["rollouts"]
    assert rollout["version"] == "v1" and rollout["waves"] == [50.0, 100.0]
    assert "in_progress" in table.output
    assert [n["name"] for n in json.loads(nodes.output)["nodes"]] == ["store-1"]


def test_refusals_exit_with_the_hub_code(hub: ServerThread) -> None:
    runner, cli, url = CliRunner(), app(), ["--hub", hub.url]

    unknown = runner.invoke(cli, ["rollout", "start", "v9", "--waves", "100", *url], env=ENV)
    bad_waves = runner.invoke(cli, ["rollout", "start", "v9", "--waves", "a,b", *url], env=ENV)
    no_token = runner.invoke(cli, ["nodes", "list", *url], env={"EDGEMARK_ADMIN_TOKEN": ""})

    assert unknown.exit_code == 7 and "v9" in unknown.output
    assert bad_waves.exit_code == 3 and "--waves" in bad_waves.output
    assert no_token.exit_code == 3 and "EDGEMARK_ADMIN_TOKEN" in no_token.output
    with AdminClient(hub.url, ADMIN_TOKEN) as admin:
        assert admin.rollouts() == {"rollouts": []}


def test_serve_without_admin_token_is_a_config_error() -> None:
    result = CliRunner().invoke(app(), ["hub", "serve"], env={"EDGEMARK_ADMIN_TOKEN": ""})
    assert result.exit_code == 3 and "EDGEMARK_ADMIN_TOKEN" in result.output


def test_rollout_control_nodes_revoke_tokens_and_audit(
    hub: ServerThread, make_bundle: Callable[..., bytes], tmp_path: Path, settings: HubSettings
) -> None:
    runner, cli, url = CliRunner(), app(), ["--hub", hub.url]
    archive = tmp_path / "v1.tar.gz"
    archive.write_bytes(make_bundle("v1"))
    for args in (["nodes", "enrol", "store-1"], ["nodes", "enrol", "store-2"],
                 ["hub", "upload", str(archive)]):  # fmt: skip
        assert runner.invoke(cli, [*args, *url], env=ENV).exit_code == 0
    started = runner.invoke(
        cli, ["rollout", "start", "v1", "--waves", "50,100", "--min-nodes", "2", *url, "--json"],
        env=ENV,
    )  # fmt: skip
    rid = json.loads(started.output)["id"]

    paused = runner.invoke(cli, ["rollout", "pause", rid, "--reason", "lunch", *url], env=ENV)
    detail = runner.invoke(cli, ["rollout", "status", rid, *url], env=ENV)
    resumed = runner.invoke(cli, ["rollout", "resume", rid, *url, "--json"], env=ENV)
    aborted = runner.invoke(cli, ["rollout", "abort", rid, *url], env=ENV)
    again = runner.invoke(cli, ["rollout", "abort", rid, *url], env=ENV)
    revoked = runner.invoke(cli, ["nodes", "revoke", "store-2", *url], env=ENV)
    table = runner.invoke(cli, ["nodes", "list", *url], env=ENV)
    token = runner.invoke(cli, ["hub", "token", "create", "ci", "--scope", "read", *url], env=ENV)
    tokens = runner.invoke(cli, ["hub", "token", "list", *url, "--json"], env=ENV)
    verify = runner.invoke(cli, ["hub", "audit", "verify", *url], env=ENV)
    verify_db = runner.invoke(cli, ["hub", "audit", "verify", "--db", settings.database_url,
                                    "--json"], env=ENV)  # fmt: skip

    for result in (paused, detail, resumed, aborted, revoked, table, token, tokens, verify):
        assert result.exit_code == 0, result.output
    assert json.loads(started.output)["wave_sizes"] == [2, 2]
    assert "paused" in paused.output and "paused by bootstrap: lunch" in detail.output
    assert json.loads(resumed.output)["state"] == "in_progress"
    assert "aborted" in aborted.output
    assert again.exit_code == 7 and "aborted" in again.output
    assert "revoked" in revoked.output and "revoked" in table.output
    (listed,) = json.loads(tokens.output)["tokens"]
    assert listed["scope"] == "read" and "token" not in listed
    assert "audit log intact" in verify.output
    assert json.loads(verify_db.output)["ok"] is True


def test_audit_verify_exits_1_and_says_where(hub: ServerThread, settings: HubSettings) -> None:
    runner, cli = CliRunner(), app()
    assert runner.invoke(cli, ["nodes", "enrol", "s1", "--hub", hub.url], env=ENV).exit_code == 0
    assert runner.invoke(cli, ["nodes", "enrol", "s2", "--hub", hub.url], env=ENV).exit_code == 0
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            if settings.database_url.startswith("sqlite"):
                conn.execute(text("DROP TRIGGER audit_log_no_update"))
            else:
                conn.execute(text("DROP TRIGGER audit_log_append_only ON audit_log"))
            conn.execute(text("UPDATE audit_log SET target = 's9' WHERE seq = 3"))
    finally:
        engine.dispose()

    result = runner.invoke(cli, ["hub", "audit", "verify", "--hub", hub.url], env=ENV)

    assert result.exit_code == 1
    assert "broken at entry 3" in result.output and "edited" in result.output


def test_migrate_brings_a_database_to_the_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = CliRunner().invoke(app(), ["hub", "migrate", "--db", url])
    from edgemark.hub._migrate import head_revision

    assert result.exit_code == 0 and f"revision {head_revision()}" in result.output
