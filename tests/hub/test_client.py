"""AdminClient against a real hub, and its mapping of failures onto the error tree."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest

from edgemark.errors import AuthError, HubError, RolloutError
from edgemark.hub import AdminClient, ServerThread, enrol

from ._support import ADMIN_TOKEN, bearer


def test_admin_client_drives_a_whole_round(
    hub: ServerThread, make_bundle: Callable[..., bytes]
) -> None:
    with AdminClient(hub.url, ADMIN_TOKEN) as admin:
        enrolment = admin.create_enrolment_token("store-1")["enrolment_token"]
        node = admin.enrol(enrolment, "store-1")
        data = make_bundle("v1")
        uploaded = admin.upload_bundle(data)
        again = admin.upload_bundle(data)
        rollout = admin.create_rollout("v1", [100], soak_heartbeats=1)
        with httpx.Client(base_url=hub.url, headers=bearer(node["node_token"])) as c:
            c.post("/v1/heartbeats", json={"active_version": "v1"}).raise_for_status()

        assert uploaded == again and uploaded["version"] == "v1"
        assert admin.download_bundle("v1") == data
        assert [b["version"] for b in admin.list_bundles()["bundles"]] == ["v1"]
        assert admin.nodes()["nodes"][0]["active_version"] == "v1"
        (done,) = admin.rollouts()["rollouts"]
        assert done["id"] == rollout["id"] and done["state"] == "completed"
        assert admin.reports() == {"reports": []}
        assert admin.health() == {"status": "ok"}


def test_errors_map_onto_the_error_tree(hub: ServerThread) -> None:
    with AdminClient(hub.url, "wrong-admin-token-xxxx") as bad:
        with pytest.raises(AuthError) as denied:
            bad.nodes()
    assert denied.value.status == 401
    with AdminClient(hub.url, ADMIN_TOKEN) as admin:
        with pytest.raises(RolloutError) as unknown:
            admin.create_rollout("v9", [100])
        with pytest.raises(HubError) as missing:
            admin.download_bundle("v9")
        with pytest.raises(AuthError):
            enrol(hub.url, "not-a-token", "store-1")
    assert unknown.value.status == 404 and "v9" in str(unknown.value)
    assert missing.value.status == 404 and not isinstance(missing.value, AuthError)


def test_unreachable_hub_is_a_hub_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nothing listens there
    with AdminClient(f"http://127.0.0.1:{port}", ADMIN_TOKEN, timeout=2) as admin:
        with pytest.raises(HubError, match="unreachable") as info:
            admin.nodes()
    assert info.value.status == 0


def test_transport_is_injectable_and_non_json_errors_are_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == f"Bearer {ADMIN_TOKEN}"
        return httpx.Response(502, text="bad gateway")

    with AdminClient("http://hub", ADMIN_TOKEN, transport=httpx.MockTransport(handler)) as admin:
        with pytest.raises(HubError, match="bad gateway") as info:
            admin.rollouts()
    assert info.value.status == 502


def test_enrol_sends_no_admin_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"node_id": "n1", "node_token": "t"})

    with AdminClient("http://hub", ADMIN_TOKEN, transport=httpx.MockTransport(handler)) as admin:
        assert admin.enrol("e", "store-1") == {"node_id": "n1", "node_token": "t"}
    assert "Authorization" not in seen[0].headers
