"""The hub's GET /metrics: read scope, fleet figures from the database, HTTP histograms."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from ._console_support import make_fleet
from ._support import ADMIN, bearer


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_need_the_read_scope(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    fleet = make_fleet(client, make_bundle)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(fleet.node_tokens["store-0"])).status_code == 403
    r = client.get("/metrics", headers=bearer(fleet.read_token))
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "text/plain; version=0.0.4"
    )


def test_fleet_and_http_figures(client: httpx.Client, make_bundle: Callable[..., bytes]) -> None:
    fleet = make_fleet(client, make_bundle, nodes=4)
    health = {"version": "v1", "decisions": 1000, "errors": 7, "decide_p99_us": 800.0,
              "drift_psi": 0.4}  # fmt: skip
    r = client.post("/v1/heartbeats", headers=bearer(fleet.node_tokens["store-2"]), json={
        "active_version": "v1", "latency_p99_us": 800.0, "health": health})  # fmt: skip
    assert r.status_code == 200
    r = client.post("/v1/nodes/store-3/revoke", headers=ADMIN)
    assert r.status_code == 200
    for _ in range(3):
        client.get("/v1/nodes", headers=ADMIN)
    s = _samples(client.get("/metrics", headers=ADMIN).text)
    assert s['edgemark_nodes{state="online"}'] == 3 and s['edgemark_nodes{state="revoked"}'] == 1
    assert s['edgemark_nodes{state="offline"}'] == 0
    assert s['edgemark_rollouts{state="in_progress"}'] == 1
    assert s["edgemark_fleet_nodes_drifting"] == 1 and s["edgemark_fleet_drift_psi_max"] == 0.4
    # store-2 reported 1000 decisions; store-0 and -1 three each (revoked store-3 not counted)
    assert s["edgemark_fleet_decision_errors"] == 7 and s["edgemark_fleet_decisions"] == 1006
    assert s['edgemark_fleet_decide_p99_seconds{quantile="1"}'] == 800e-6
    assert s['edgemark_hub_http_requests_total{method="GET",route="/v1/nodes",status="200"}'] == 3
    assert s['edgemark_hub_http_request_duration_seconds_count{route="/v1/nodes"}'] == 3
    assert s['edgemark_hub_http_request_duration_seconds_bucket{le="+Inf",route="/v1/nodes"}'] == 3
    assert s["edgemark_audit_entries"] >= 8
    assert not any("node-" in key or "store-" in key for key in s)  # no per-node series
