"""Report ingestion: idempotent storage and validation of DP report rows."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from ._support import ADMIN, bearer, enrol_node


def row(day: Any = 3, arm: str = "pct10", **over: Any) -> dict[str, Any]:
    key = hashlib.sha256(f"store-1|{day}|exp1|{arm}".encode()).hexdigest()
    base = {
        "idempotency_key": key, "day": day, "experiment": "exp1", "arm": arm,
        "exposures": 120, "conversions": -2, "revenue": 431.5, "epsilon": 1.0,
        "count_noise_scale": 3.0, "revenue_noise_scale": 150.0,
    }  # fmt: skip
    return {**base, **over}


def test_same_key_twice_is_stored_once(client: httpx.Client) -> None:
    node_id, token = enrol_node(client, "store-1")
    batch = {"reports": [row(arm="pct10"), row(arm="holdout")]}

    first = client.post("/v1/reports", json=batch, headers=bearer(token))
    second = client.post("/v1/reports", json=batch, headers=bearer(token))

    assert first.json() == {"stored": 2, "duplicates": 0}
    assert second.json() == {"stored": 0, "duplicates": 2}
    stored = client.get("/v1/reports", headers=ADMIN).json()["reports"]
    assert len(stored) == 2
    assert {k: stored[0][k] for k in row()} == row(arm="pct10")
    assert stored[0]["node_id"] == node_id


def test_duplicates_within_one_request_are_counted(client: httpx.Client) -> None:
    _, token = enrol_node(client, "store-1")

    r = client.post("/v1/reports", json={"reports": [row(), row()]}, headers=bearer(token))

    assert r.json() == {"stored": 1, "duplicates": 1}


def test_invalid_rows_are_422_and_nothing_is_stored(client: httpx.Client) -> None:
    _, token = enrol_node(client, "store-1")
    bad_rows = [
        row(day=-1), row(epsilon=0), row(epsilon=-1.0), row(arm=""), row(exposures=1.5),
        row(count_noise_scale=-1), row(experiment=7), row(extra_field=1), row(day="3"),
    ]  # fmt: skip
    for bad in bad_rows:
        r = client.post("/v1/reports", json={"reports": [row(day=9), bad]}, headers=bearer(token))
        assert r.status_code == 422, bad
        assert "reports.1" in r.json()["detail"]

    assert client.get("/v1/reports", headers=ADMIN).json()["reports"] == []
