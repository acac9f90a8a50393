"""Helpers shared by the hub tests (HTTP calls to a hub)."""

from __future__ import annotations

import httpx

ADMIN_TOKEN = "admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def enrol_node(client: httpx.Client, name: str) -> tuple[str, str]:
    """Enrol ``name`` through the API; return ``(node_id, node_token)``."""
    r = client.post("/v1/enrolment-tokens", json={"node_name": name}, headers=ADMIN)
    assert r.status_code == 201, r.text
    r = client.post(
        "/v1/nodes/enrol",
        json={"enrolment_token": r.json()["enrolment_token"], "node_name": name},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return body["node_id"], body["node_token"]


def heartbeat(
    client: httpx.Client, token: str, active: str | None, error: dict[str, str] | None = None
) -> None:
    r = client.post(
        "/v1/heartbeats",
        json={
            "active_version": active,
            "decisions_by_version": {active: 3} if active else {},
            "latency_p50_us": 40.0,
            "latency_p99_us": 120.0,
            "bundle_error": error,
        },
        headers=bearer(token),
    )
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True and set(r.json()["assignment"]) == {
        "version", "sha256", "rollout_id",
    }  # fmt: skip
