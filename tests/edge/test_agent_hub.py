"""The sync agent against a real hub: rollout, refusal and rollback, and revocation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgemark.bundle import BundleStore, TrustStore, pack_bundle
from edgemark.edge import DecisionRequest, NodeHubClient, Runtime, SyncAgent
from tests.edge.edge_support import T0, BundleFactory

hub_mod = pytest.importorskip("edgemark.hub")


class Counting(httpx.HTTPTransport):
    """A real transport that records the paths it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


ADMIN_TOKEN = "admin-token-0123456789abcdef"


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[hub_mod.AdminClient]:
    settings = hub_mod.HubSettings(
        hub_mod.Secret(ADMIN_TOKEN), database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        bundle_dir=tmp_path / "hub-bundles", controller_interval_s=0.05,
    )  # fmt: skip
    with (
        hub_mod.ServerThread(settings) as server,
        hub_mod.AdminClient(server.url, ADMIN_TOKEN) as client,
    ):
        yield client


def test_refused_bundle_rolls_back_and_revocation_stops_syncs_not_decisions(
    admin: hub_mod.AdminClient, tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    admin.upload_bundle(pack_bundle(make_bundle("v1")))
    admin.upload_bundle(pack_bundle(make_bundle("v2", key="evil")))
    token = admin.enrol(admin.create_enrolment_token("store-1")["enrolment_token"], "store-1")
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust)
    wire = Counting()
    client = NodeHubClient(admin.base_url, token["node_token"], transport=wire)
    agent = SyncAgent(runtime, client, BundleStore(tmp_path / "node" / "bundles"))
    admin.create_rollout("v1", [100])
    assert agent.sync_once()["active_version"] == "v1"
    assert admin.rollouts()["rollouts"][0]["state"] == "completed"
    assert wire.paths == ["/v1/heartbeats", "/v1/bundles/v1", "/v1/heartbeats"]
    wire.paths.clear()
    agent.sync_once()
    assert wire.paths == ["/v1/heartbeats"]  # steady state: one round trip per sync

    admin.create_rollout("v2", [50, 100])
    refused = agent.sync_once()

    assert refused["active_version"] == "v1" and refused["bundle_error"]["version"] == "v2"
    (latest, _) = admin.rollouts()["rollouts"]
    assert latest["state"] == "rolled_back"
    assert "store-1 refused v2" in latest["events"][-1]["what"]
    assert "evil" in admin.nodes()["nodes"][0]["last_error"]["reason"]
    assert agent.sync_once()["assigned_version"] == "v1"

    admin.revoke_node("store-1", "lost")
    after = agent.sync_once()

    assert after["heartbeat"] is False and any("revoked" in e for e in after["errors"])
    assert runtime.decide(DecisionRequest("c1", T0)).bundle_version == "v1"
    runtime.close()
    agent.client.close()
