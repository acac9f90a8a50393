"""The demo's point-of-sale side: a client of one edge node's local HTTP API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from edgemark.errors import EdgeError


class LocalNodeClient:
    """Calls ``/v1/decide``, ``/v1/observe``, ``/v1/sync`` and ``/v1/reports`` on one node."""

    def __init__(self, name: str, port: int, timeout_s: float = 30.0) -> None:
        self.name = name
        self._http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout_s)

    def decide(self, requests: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Decisions for a batch of visits, in order."""
        decisions: list[dict[str, Any]] = self._post("/v1/decide", {"requests": list(requests)})[
            "decisions"
        ]
        return decisions

    def observe(self, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Feed outcome events back; returns accepted count and rejected rows."""
        return self._post("/v1/observe", {"events": list(events)})

    def sync(self) -> dict[str, Any]:
        """Ask the node's agent to sync with the hub now."""
        return self._post("/v1/sync", {})

    def close_days(self, until_day: int) -> dict[str, Any]:
        """Queue the DP reports of every day before ``until_day``."""
        return self._post("/v1/reports", {"until_day": until_day})

    def compose(self, request: dict[str, Any]) -> dict[str, Any]:
        """Copy variants from the node's content pack (``EdgeError`` if it serves none)."""
        copy: dict[str, Any] = self._post("/v1/compose", request)["copy"]
        return copy

    def status(self) -> dict[str, Any]:
        """The node's status figures."""
        return self._json(self._http.get("/v1/status"))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self._http.post(path, json=body))

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            raise EdgeError(
                f"node {self.name} answered {response.status_code} on {response.url.path}: "
                f"{response.text[:300]}"
            )
        payload: dict[str, Any] = response.json()
        return payload
