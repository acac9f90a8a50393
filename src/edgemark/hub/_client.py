"""``AdminClient``: the admin's HTTP client of the hub (httpx, sync), plus ``enrol``.

Non-2xx answers become ``HubError`` (``AuthError`` for 401/403, ``RolloutError`` for a
refused rollout) carrying the hub's ``detail``; an unreachable hub is a ``HubError`` too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from edgemark._hubwire import json_object as _json
from edgemark._hubwire import response_detail as _detail
from edgemark.errors import AuthError, HubError, RolloutError


class AdminClient:
    """Talk to a hub as its admin; each method returns the hub's JSON answer as a dict.

    ``transport`` lets tests plug in an ``httpx.MockTransport`` (or any transport).

    >>> client = AdminClient("http://127.0.0.1:1", "0123456789abcdef")
    >>> client.base_url
    'http://127.0.0.1:1'
    >>> client.close()
    """

    def __init__(
        self,
        base_url: str,
        admin_token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout,
            headers={"Authorization": f"Bearer {admin_token}"},
        )

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def health(self) -> dict[str, Any]:
        """GET /healthz."""
        return _json(self._send("GET", "/healthz"))

    def create_enrolment_token(self, node_name: str) -> dict[str, Any]:
        """A one-time enrolment token for ``node_name``: ``{"enrolment_token"}``."""
        return _json(self._send("POST", "/v1/enrolment-tokens", json={"node_name": node_name}))

    def enrol(self, enrolment_token: str, node_name: str) -> dict[str, str]:
        """Enrol a node (no admin auth needed); returns ``{"node_id", "node_token"}``."""
        return enrol(self.base_url, enrolment_token, node_name, client=self._http)

    def upload_bundle(self, data: bytes) -> dict[str, Any]:
        """Upload bundle tar.gz bytes; returns ``{"version", "sha256", "key_id"}``."""
        return _json(
            self._send(
                "POST",
                "/v1/bundles",
                content=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        )

    def list_bundles(self) -> dict[str, Any]:
        """Registered bundles, oldest first: ``{"bundles": [...]}``."""
        return _json(self._send("GET", "/v1/bundles"))

    def download_bundle(self, version: str) -> bytes:
        """The tar.gz bytes of a registered bundle."""
        return self._send("GET", f"/v1/bundles/{version}").content

    def create_rollout(
        self,
        version: str,
        waves: Sequence[float],
        soak_heartbeats: int = 1,
        *,
        min_nodes: int = 1,
        soak_seconds: float = 0.0,
        gates: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start a rollout (RolloutError if one is active or the version is unknown).

        ``gates`` overrides gate thresholds by name (see ``GatePolicy``).
        """
        payload: dict[str, Any] = {
            "version": version, "waves": list(waves), "soak_heartbeats": soak_heartbeats,
            "min_nodes": min_nodes, "soak_seconds": soak_seconds,
        }  # fmt: skip
        if gates:
            payload["gates"] = dict(gates)
        return _json(self._send("POST", "/v1/rollouts", json=payload, rollout=True))

    def rollouts(self) -> dict[str, Any]:
        """Every rollout, newest first, each with its events: ``{"rollouts": [...]}``."""
        return _json(self._send("GET", "/v1/rollouts"))

    def rollout(self, rollout_id: str) -> dict[str, Any]:
        """One rollout with its events and last gate results."""
        return _json(self._send("GET", f"/v1/rollouts/{rollout_id}", rollout=True))

    def control_rollout(self, rollout_id: str, verb: str, reason: str = "") -> dict[str, Any]:
        """``verb`` is pause, resume or abort; returns the rollout afterwards."""
        path = f"/v1/rollouts/{rollout_id}/{verb}"
        return _json(self._send("POST", path, json={"reason": reason}, rollout=True))

    def nodes(self) -> dict[str, Any]:
        """Every enrolled node with its last heartbeat figures: ``{"nodes": [...]}``."""
        return _json(self._send("GET", "/v1/nodes"))

    def revoke_node(self, node: str, reason: str = "") -> dict[str, Any]:
        """Revoke a node (by name or id): its next request is refused."""
        return _json(self._send("POST", f"/v1/nodes/{node}/revoke", json={"reason": reason}))

    def create_admin_token(self, name: str, scope: str) -> dict[str, Any]:
        """A new scoped admin token (``token`` is shown only in this answer)."""
        return _json(self._send("POST", "/v1/admin-tokens", json={"name": name, "scope": scope}))

    def admin_tokens(self) -> dict[str, Any]:
        """Every admin token (ids, names, scopes; never the tokens): ``{"tokens": [...]}``."""
        return _json(self._send("GET", "/v1/admin-tokens"))

    def revoke_admin_token(self, token_id: str) -> dict[str, Any]:
        """Revoke an admin token by id."""
        return _json(self._send("POST", f"/v1/admin-tokens/{token_id}/revoke"))

    def audit(self, after: int = 0, limit: int = 1000) -> dict[str, Any]:
        """Audit entries after ``after`` and the head: ``{"entries": [...], "head": {...}}``."""
        return _json(self._send("GET", "/v1/audit", params={"after": after, "limit": limit}))

    def audit_entries(self) -> tuple[list[dict[str, Any]], tuple[int, str]]:
        """Every audit entry, oldest first, and the head ``(seq, hash)``."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.audit(after=rows[-1]["seq"] if rows else 0, limit=5000)
            rows.extend(page["entries"])
            if not page["entries"]:
                return rows, (int(page["head"]["seq"]), str(page["head"]["hash"]))

    def reports(self) -> dict[str, Any]:
        """Every stored report row (with ``node_id``): ``{"reports": [...]}``."""
        return _json(self._send("GET", "/v1/reports"))

    def _send(self, method: str, path: str, *, rollout: bool = False, **kw: Any) -> httpx.Response:
        return _checked(self._http, method, path, rollout=rollout, **kw)


def enrol(
    base_url: str, enrolment_token: str, node_name: str, *, client: httpx.Client | None = None
) -> dict[str, str]:
    """POST /v1/nodes/enrol without admin credentials; returns ``{"node_id", "node_token"}``."""
    own = client is None
    http = httpx.Client(base_url=base_url.rstrip("/")) if client is None else client
    try:
        payload = {"enrolment_token": enrolment_token, "node_name": node_name}
        # An explicit empty Authorization header would be sent; drop the admin one instead.
        request = http.build_request("POST", "/v1/nodes/enrol", json=payload)
        request.headers.pop("Authorization", None)
        body = _json(_checked_send(http, request))
        return {"node_id": str(body["node_id"]), "node_token": str(body["node_token"])}
    finally:
        if own:
            http.close()


def _checked(
    http: httpx.Client, method: str, path: str, *, rollout: bool = False, **kw: Any
) -> httpx.Response:
    return _checked_send(http, http.build_request(method, path, **kw), rollout=rollout)


def _checked_send(
    http: httpx.Client, request: httpx.Request, *, rollout: bool = False
) -> httpx.Response:
    try:
        response = http.send(request)
    except httpx.TransportError as exc:
        raise HubError(
            f"hub at {http.base_url} unreachable: {exc or type(exc).__name__}. "
            "Is `edgemark hub serve` running there?",
            0,
        ) from None
    if response.is_success:
        return response
    detail = _detail(response)
    status = response.status_code
    if status in (401, 403):
        raise AuthError(f"hub refused the credentials ({status}): {detail}", status)
    if rollout and status in (404, 409, 422):
        raise RolloutError(f"hub refused the rollout ({status}): {detail}", status)
    raise HubError(
        f"hub answered {status} to {request.method} {request.url.path}: {detail}", status
    )
