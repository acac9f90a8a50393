"""Client calls of the privacy ledger and federated rounds: read the ledger, record a
federated round, open a federated task and close it to collect the nodes' updates."""

from __future__ import annotations

from typing import Any

import httpx

from edgemark._hubwire import json_object
from edgemark.hub._client import _checked


def fetch_privacy_ledger(base_url: str, token: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """``GET /v1/privacy/ledger`` (read scope): the ledger in agreement A's shape."""
    with _client(base_url, token, timeout) as http:
        return json_object(_checked(http, "GET", "/v1/privacy/ledger"))


def record_federated_round(
    base_url: str, token: str, round_row: dict[str, Any], *, timeout: float = 10.0
) -> dict[str, Any]:
    """``POST /v1/federated/rounds`` (deploy scope); ``{"stored": bool}``."""
    with _client(base_url, token, timeout) as http:
        return json_object(_checked(http, "POST", "/v1/federated/rounds", json=round_row))


def _client(base_url: str, token: str, timeout: float) -> httpx.Client:
    return httpx.Client(
        base_url=base_url.rstrip("/"),
        timeout=timeout,
        headers={"Authorization": f"Bearer {token}"},
    )


def open_federated_task(
    base_url: str, token: str, task: dict[str, Any], *, timeout: float = 10.0
) -> int:
    """``POST /v1/federated/tasks`` (deploy scope): open a round; returns its task id."""
    with _client(base_url, token, timeout) as http:
        return int(json_object(_checked(http, "POST", "/v1/federated/tasks", json=task))["task_id"])


def close_federated_task(
    base_url: str, token: str, task_id: int, *, timeout: float = 10.0
) -> dict[str, Any]:
    """``POST /v1/federated/tasks/{id}/close``: ``{"updates": [[...]], "nodes": [names]}``."""
    path = f"/v1/federated/tasks/{task_id}/close"
    with _client(base_url, token, timeout) as http:
        return json_object(_checked(http, "POST", path))
