"""The hub's privacy ledger: epsilon per node and fleet-wide from reports and federated rounds."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import httpx
import pytest

from edgemark.errors import AuthError
from edgemark.hub import HubSettings, ServerThread, fetch_privacy_ledger, record_federated_round

from ._support import ADMIN, ADMIN_TOKEN, bearer, enrol_node


def report(day: int, arm: str, epsilon: float, node: str = "n") -> dict[str, Any]:
    key = hashlib.sha256(f"{node}|{day}|exp|{arm}".encode()).hexdigest()
    return {
        "idempotency_key": key, "day": day, "experiment": "exp", "arm": arm,
        "exposures": 10, "conversions": 1, "revenue": 5.0, "epsilon": epsilon,
        "count_noise_scale": 1.0, "revenue_noise_scale": 1.0,
    }  # fmt: skip


def rnd(run: str, k: int, eps: float, nodes: list[str], auc: float | None = 0.7) -> dict[str, Any]:
    return {
        "run_id": run, "round": k, "epsilon_cumulative": eps, "delta": 1e-6,
        "clients": len(nodes), "auc": auc, "nodes": nodes,
    }  # fmt: skip


def test_ledger_adds_reports_and_federated_runs(client: httpx.Client, hub: ServerThread) -> None:
    a_id, a_token = enrol_node(client, "store-a")
    b_id, b_token = enrol_node(client, "store-b")
    # store-a: day 1 costs max(1.0, 0.5) = 1.0 (parallel across arms), day 2 costs 2.0.
    rows_a = [report(1, "holdout", 1.0, "a"), report(1, "pct10", 0.5, "a"),
              report(2, "holdout", 2.0, "a")]  # fmt: skip
    client.post("/v1/reports", json={"reports": rows_a}, headers=bearer(a_token))
    client.post(
        "/v1/reports", json={"reports": [report(1, "x", 0.25, "b")]}, headers=bearer(b_token)
    )
    # Two federated runs: run-1 reached 1.5 after round 2 with both nodes; run-2 only store-a.
    for row in (rnd("run-1", 1, 0.9, ["store-a", "store-b"]),
                rnd("run-1", 2, 1.5, ["store-a", "store-b"]),
                rnd("run-2", 1, 0.4, ["store-a"], auc=None)):  # fmt: skip
        assert record_federated_round(hub.url, ADMIN_TOKEN, row) == {"stored": True}
    again = record_federated_round(hub.url, ADMIN_TOKEN, rnd("run-1", 2, 1.5, ["store-a"]))
    assert again == {"stored": False}

    ledger = fetch_privacy_ledger(hub.url, ADMIN_TOKEN)

    assert set(ledger) == {"delta", "fleet", "nodes", "rounds"}
    assert ledger["delta"] == 1e-6
    nodes = {n["node_id"]: n for n in ledger["nodes"]}
    assert nodes[a_id] == {
        "node_id": a_id, "epsilon_reports": 3.0, "epsilon_federated": pytest.approx(1.9),
        "epsilon_spent": pytest.approx(4.9), "budget": None,
    }  # fmt: skip
    assert nodes[b_id]["epsilon_reports"] == 0.25
    assert nodes[b_id]["epsilon_federated"] == pytest.approx(1.5)
    assert ledger["fleet"] == {"epsilon_spent": pytest.approx(4.9), "budget": None}
    assert ledger["rounds"] == [
        {"run_id": "run-1", "round": 1, "epsilon_cumulative": 0.9, "clients": 2, "auc": 0.7},
        {"run_id": "run-1", "round": 2, "epsilon_cumulative": 1.5, "clients": 2, "auc": 0.7},
        {"run_id": "run-2", "round": 1, "epsilon_cumulative": 0.4, "clients": 1, "auc": None},
    ]
    assert client.get("/v1/privacy/ledger", headers=ADMIN).json() == ledger


def test_ledger_needs_credentials_and_rounds_are_validated(
    client: httpx.Client, hub: ServerThread
) -> None:
    _, node_token = enrol_node(client, "store-a")
    assert client.get("/v1/privacy/ledger").status_code == 401
    assert client.get("/v1/privacy/ledger", headers=bearer(node_token)).status_code == 403
    with pytest.raises(AuthError):
        record_federated_round(hub.url, node_token, rnd("r", 1, 1.0, []))
    for bad in (rnd("r", 0, 1.0, []), rnd("r", 1, -1.0, []), rnd("r", 1, 1.0, [], auc=1.5),
                {**rnd("r", 1, 1.0, []), "user": "x"}):  # fmt: skip
        r = client.post("/v1/federated/rounds", json=bad, headers=ADMIN)
        assert r.status_code == 422, bad
    empty = client.get("/v1/privacy/ledger", headers=ADMIN).json()
    assert empty["rounds"] == [] and empty["fleet"]["epsilon_spent"] == 0.0


def test_ledger_shows_each_node_and_the_fleet_against_the_configured_budget(
    settings: HubSettings,
) -> None:
    with ServerThread(dataclasses.replace(settings, privacy_budget=8.0)) as hub:
        with httpx.Client(base_url=hub.url) as client:
            a_id, a_token = enrol_node(client, "store-a")
            rows = {"reports": [report(1, "holdout", 1.5, "a")]}
            client.post("/v1/reports", json=rows, headers=bearer(a_token))
            ledger = fetch_privacy_ledger(hub.url, ADMIN_TOKEN)
    assert ledger["fleet"] == {"epsilon_spent": 1.5, "budget": 8.0}
    assert ledger["nodes"] == [
        {"node_id": a_id, "epsilon_reports": 1.5, "epsilon_federated": 0.0,
         "epsilon_spent": 1.5, "budget": 8.0},
    ]  # fmt: skip
