"""The hub's CLI verbs (registered on a fresh Typer app) against a real hub."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from typer.testing import CliRunner

from edgemark.cli import _hub
from edgemark.hub import AdminClient, ServerThread

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
