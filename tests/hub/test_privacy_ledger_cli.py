"""``edgemark privacy ledger`` against a real hub: the table and the JSON of the ledger."""

from __future__ import annotations

import json

import httpx
from typer.testing import CliRunner

from edgemark.cli._app import app
from edgemark.hub import ServerThread, record_federated_round

from ._support import ADMIN_TOKEN, enrol_node

ENV = {"EDGEMARK_ADMIN_TOKEN": ADMIN_TOKEN}


def test_ledger_command_prints_the_hubs_ledger(client: httpx.Client, hub: ServerThread) -> None:
    node_id, _ = enrol_node(client, "store-1")
    row = {"run_id": "r", "round": 1, "epsilon_cumulative": 2.5, "delta": 1e-6, "clients": 1,
           "auc": 0.7, "nodes": ["store-1"]}  # fmt: skip
    record_federated_round(hub.url, ADMIN_TOKEN, row)
    runner = CliRunner()

    as_json = runner.invoke(app, ["privacy", "ledger", "--hub", hub.url, "--json"], env=ENV)
    table = runner.invoke(app, ["privacy", "ledger", "--hub", hub.url], env=ENV)
    refused = runner.invoke(app, ["privacy", "ledger", "--hub", hub.url],
                            env={"EDGEMARK_ADMIN_TOKEN": "wrong-token-0123456789"})  # fmt: skip

    assert as_json.exit_code == 0, as_json.output
    ledger = json.loads(as_json.stdout)
    assert ledger["nodes"] == [{"node_id": node_id, "epsilon_reports": 0.0,
                                "epsilon_federated": 2.5, "epsilon_spent": 2.5,
                                "budget": None}]  # fmt: skip
    assert table.exit_code == 0 and "Fleet-wide epsilon spent: 2.500" in table.stdout
    assert "r: 1 rounds, epsilon 2.500" in " ".join(table.stdout.split())
    assert refused.exit_code != 0 and "credentials" in refused.output
