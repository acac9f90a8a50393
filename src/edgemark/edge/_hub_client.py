"""The node's HTTP client of the hub (node-token endpoints of CONTRACTS.md "Hub HTTP API").

Every failure becomes a ``HubError`` (``AuthError`` for 401/403); a hub that cannot be
reached is ``HubError`` with status 0, which the sync agent catches and retries later.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from edgemark._hubwire import json_object, response_detail
from edgemark.errors import AuthError, HubError
from edgemark.observe import trace_headers


class NodeHubClient:
    """Talks to the hub as one enrolled node.

    ``transport`` replaces the network (``httpx.MockTransport`` in tests).
    """

    def __init__(
        self,
        base_url: str,
        node_token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {node_token}"},
            transport=transport,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"NodeHubClient({self.base_url!r}, node_token='**********')"

    def assignment(self) -> dict[str, Any]:
        """The bundle this node should run: ``{"version", "sha256", "rollout_id"}``."""
        return self._json("GET", "/v1/assignment")

    def download_bundle(self, version: str) -> bytes:
        """The tar.gz bytes of bundle ``version``."""
        return self._send("GET", f"/v1/bundles/{version}").content

    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send health figures (and a ``bundle_error``, if any); the hub answers
        ``{"ok": true, "assignment": {...}}`` (older hubs: without the assignment)."""
        return self._json("POST", "/v1/heartbeats", json=payload)

    def send_reports(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Send DP report rows; returns ``{"stored", "duplicates"}``."""
        return self._json("POST", "/v1/reports", json={"reports": list(rows)})

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return json_object(self._send(method, path, **kwargs))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        traced = trace_headers()  # the hub's span continues this node's trace
        if traced:
            kwargs["headers"] = {**kwargs.get("headers", {}), **traced}
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise HubError(
                f"Cannot reach the hub at {self.base_url} ({type(exc).__name__}: {exc}); "
                "the node keeps deciding and retries at the next sync.",
                0,
            ) from exc
        if response.status_code in (401, 403):
            raise AuthError(
                f"Hub refused the node token on {method} {path} ({response.status_code}: "
                f"{response_detail(response)}); re-enrol the node or check EDGEMARK_NODE_TOKEN.",
                response.status_code,
            )
        if response.status_code >= 400:
            raise HubError(
                f"Hub refused {method} {path} ({response.status_code}): "
                f"{response_detail(response)}",
                response.status_code,
            )
        return response
