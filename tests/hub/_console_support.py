"""Helpers of the console tests: a small fleet with a rollout and reports, and logging in."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from ._support import ADMIN, bearer, enrol_node, heartbeat

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Fleet:
    """What ``make_fleet`` built."""

    node_tokens: dict[str, str]
    rollout_id: str
    read_token: str
    deploy_token: str


def make_fleet(client: httpx.Client, make_bundle: Callable[..., bytes], nodes: int = 3) -> Fleet:
    """Nodes on v1, a rollout of v2 that stays in its first wave, and a read/deploy token."""
    tokens = {f"store-{i}": enrol_node(client, f"store-{i}")[1] for i in range(nodes)}
    for version in ("v1", "v2"):
        r = client.post(
            "/v1/bundles", content=make_bundle(version, version.encode()), headers=ADMIN
        )
        assert r.status_code == 201, r.text
    for token in tokens.values():
        heartbeat(client, token, "v1")
    body = {
        "version": "v2",
        "waves": [50, 100],
        "soak_heartbeats": 1000,
        "gates": {"enabled": True},
    }
    r = client.post("/v1/rollouts", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    scoped = {}
    for scope in ("read", "deploy"):
        r = client.post(
            "/v1/admin-tokens", json={"name": f"{scope}er", "scope": scope}, headers=ADMIN
        )
        assert r.status_code == 201, r.text
        scoped[scope] = r.json()["token"]
    return Fleet(tokens, _rollout_id(client), scoped["read"], scoped["deploy"])


def _rollout_id(client: httpx.Client) -> str:
    return str(client.get("/v1/rollouts", headers=ADMIN).json()["rollouts"][0]["id"])


def send_reports(client: httpx.Client, token: str, rows: list[dict[str, object]]) -> None:
    """POST report rows as the node with ``token``."""
    r = client.post("/v1/reports", json={"reports": rows}, headers=bearer(token))
    assert r.status_code == 200, r.text


def login(client: httpx.Client, token: str) -> str:
    """Log ``client`` in to the console with ``token``; return the page's CSRF token."""
    r = client.post("/console/login", data={"token": token})
    assert r.status_code == 303, r.text
    page = client.get("/console/fleet")
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found is not None
    return found.group(1)
