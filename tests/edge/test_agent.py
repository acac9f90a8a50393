"""Sync agent against an in-memory hub (httpx.MockTransport implementing the contract)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgemark.bundle import BundleStore, TrustStore, pack_bundle
from edgemark.edge import DecisionRequest, NodeHubClient, Runtime, SyncAgent
from edgemark.errors import AuthError, HubError
from tests.edge.edge_support import DAY, T0, BundleFactory

TOKEN = "node-secret"


class FakeHub:
    """Assignment, bundle download, heartbeats and idempotent report storage."""

    def __init__(self) -> None:
        self.bundles: dict[str, bytes] = {}
        self.assigned: str | None = None
        self.heartbeats: list[dict[str, Any]] = []
        self.reports: dict[str, dict[str, Any]] = {}
        self.report_posts = 0
        self.downloads: list[str] = []
        self.down = False

    def add(self, version: str, bundle_dir: Path) -> None:
        self.bundles[version] = pack_bundle(bundle_dir)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("hub is down", request=request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return httpx.Response(401, json={"detail": "bad token"})
        path = request.url.path
        if path == "/v1/assignment":
            data = self.bundles.get(self.assigned or "")
            sha = hashlib.sha256(data).hexdigest() if data else None
            return httpx.Response(
                200, json={"version": self.assigned, "sha256": sha, "rollout_id": "r1"}
            )
        if path.startswith("/v1/bundles/"):
            version = path.rsplit("/", 1)[1]
            self.downloads.append(version)
            if version not in self.bundles:
                return httpx.Response(404, json={"detail": "unknown version"})
            return httpx.Response(200, content=self.bundles[version])
        if path == "/v1/heartbeats":
            self.heartbeats.append(json.loads(request.content))
            return httpx.Response(200, json={"ok": True})
        if path == "/v1/reports":
            self.report_posts += 1
            rows = json.loads(request.content)["reports"]
            new = [r for r in rows if r["idempotency_key"] not in self.reports]
            for row in new:
                self.reports[row["idempotency_key"]] = row
            return httpx.Response(
                200, json={"stored": len(new), "duplicates": len(rows) - len(new)}
            )
        return httpx.Response(404, json={"detail": "no route"})


def _agent(tmp_path: Path, trust: TrustStore, hub: FakeHub, token: str = TOKEN) -> SyncAgent:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust)
    client = NodeHubClient("http://hub.test", token, transport=httpx.MockTransport(hub.handle))
    return SyncAgent(runtime, client, BundleStore(tmp_path / "node" / "bundles"))


def test_agent_swaps_heartbeats_reports_and_rejects_bad_bundles(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    hub = FakeHub()
    hub.add("v1", make_bundle("v1"))
    hub.add("v2", make_bundle("v2", key="evil"))
    hub.assigned = "v1"
    agent = _agent(tmp_path, trust, hub)

    first = agent.sync_once()
    assert first["active_version"] == "v1" and first["errors"] == []
    assert hub.heartbeats[-1]["active_version"] == "v1"
    assert hub.heartbeats[-1]["bundle_error"] is None

    for i in range(20):
        agent.runtime.decide(DecisionRequest(f"c{i}", T0 + i))
    rows = agent.runtime.reports(int(T0 // DAY) + 1)
    hub.assigned = "v2"  # signed by an untrusted key
    second = agent.sync_once()
    assert second["active_version"] == "v1"
    error = hub.heartbeats[-1]["bundle_error"]
    assert error["version"] == "v2" and "evil" in error["reason"]
    assert hub.heartbeats[-1]["decisions_by_version"] == {"v1": 20}
    assert second["reports_sent"] == len(rows) == 4 and len(hub.reports) == 4

    third = agent.sync_once()  # the bad version is not downloaded again
    assert hub.downloads.count("v2") == 1
    assert third["reports_sent"] == 0 and hub.report_posts == 1
    assert hub.heartbeats[-1]["bundle_error"]["version"] == "v2"
    assert agent.runtime.decide(DecisionRequest("c1", T0)).bundle_version == "v1"

    hub.add("v3", make_bundle("v3"))
    hub.assigned = "v3"
    assert agent.sync_once()["active_version"] == "v3"
    assert hub.heartbeats[-1]["bundle_error"] is None


def test_agent_survives_a_hub_outage_and_restarts_serving(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    hub = FakeHub()
    hub.add("v1", make_bundle("v1"))
    hub.assigned = "v1"
    agent = _agent(tmp_path, trust, hub)
    agent.sync_once()
    for i in range(5):
        agent.runtime.decide(DecisionRequest(f"c{i}", T0 + i))
    agent.runtime.reports(int(T0 // DAY) + 1)
    hub.down = True
    result = agent.sync_once()
    assert result["heartbeat"] is False and result["reports_sent"] == 0
    assert any("Cannot reach the hub" in e for e in result["errors"])
    assert agent.runtime.decide(DecisionRequest("c9", T0 + 9)).bundle_version == "v1"
    agent.runtime.close()

    hub.down = False
    restarted = _agent(tmp_path, trust, hub)  # reloads v1 from the store before any sync
    assert restarted.runtime.active_version == "v1"
    assert restarted.sync_once()["reports_sent"] == 4
    assert len(hub.reports) == 4 and hub.downloads.count("v1") == 1


def test_client_maps_errors(tmp_path: Path) -> None:
    hub = FakeHub()
    wrong = NodeHubClient("http://hub.test", "wrong", transport=httpx.MockTransport(hub.handle))
    with pytest.raises(AuthError, match="re-enrol") as info:
        wrong.assignment()
    assert info.value.status == 401
    client = NodeHubClient("http://hub.test", TOKEN, transport=httpx.MockTransport(hub.handle))
    with pytest.raises(HubError, match="unknown version") as missing:
        client.download_bundle("v9")
    assert missing.value.status == 404
    assert TOKEN not in repr(client)
