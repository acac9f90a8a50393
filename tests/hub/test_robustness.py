"""Whatever a client sends, the hub answers 2xx or 4xx JSON with a detail, never 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgemark.hub import HubSettings, Secret, ServerThread

from ._support import ADMIN, ADMIN_TOKEN, bearer, enrol_node

ENDPOINTS = [
    ("/v1/enrolment-tokens", "admin"),
    ("/v1/nodes/enrol", "none"),
    ("/v1/rollouts", "admin"),
    ("/v1/heartbeats", "node"),
    ("/v1/reports", "node"),
]
KEYS = [
    "node_name", "enrolment_token", "version", "waves", "soak_heartbeats", "active_version",
    "decisions_by_version", "latency_p50_us", "latency_p99_us", "bundle_error", "reason",
    "reports", "idempotency_key", "day", "experiment", "arm", "exposures", "conversions",
    "revenue", "epsilon", "count_noise_scale", "revenue_noise_scale",
]  # fmt: skip

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
    | st.sampled_from(["v1", "store-1", "", "x" * 300, "../../etc/passwd"])
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    root: Path = tmp_path_factory.mktemp("hub-robust")
    hub_settings = HubSettings(
        Secret(ADMIN_TOKEN), database_url=f"sqlite:///{root / 'hub.db'}",
        bundle_dir=root / "bundles", max_json_bytes=16 * 1024, max_bundle_bytes=64 * 1024,
    )  # fmt: skip
    with ServerThread(hub_settings) as hub, httpx.Client(base_url=hub.url, timeout=10) as c:
        _, token = enrol_node(c, "store-1")
        yield c, token


def post(client: httpx.Client, path: str, role: str, token: str, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if role == "admin":
        headers.update(ADMIN)
    elif role == "node":
        headers.update(bearer(token))
    return client.post(path, content=body, headers=headers)


def assert_clean(r: httpx.Response) -> None:
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert isinstance(r.json()["detail"], str) and r.json()["detail"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, endpoint=st.sampled_from(ENDPOINTS))
def test_random_json_never_gives_5xx(
    live: tuple[httpx.Client, str], value: Any, endpoint: tuple[str, str]
) -> None:
    client, token = live
    r = post(client, endpoint[0], endpoint[1], token, json.dumps(value).encode())
    assert_clean(r)


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=2048))
def test_random_bytes_never_give_5xx(live: tuple[httpx.Client, str], data: bytes) -> None:
    client, token = live
    for path, role in [*ENDPOINTS, ("/v1/bundles", "admin")]:
        assert_clean(post(client, path, role, token, data))


@pytest.mark.parametrize("path,role", ENDPOINTS)
def test_malformed_json_is_422(live: tuple[httpx.Client, str], path: str, role: str) -> None:
    client, token = live
    for body in [b"{", b"[1, 2", b"\xff\xfe", b"null", b'{"a": NaN}', b""]:
        r = post(client, path, role, token, body)
        assert r.status_code in (401, 403, 422), (body, r.text)
        assert_clean(r)


@pytest.mark.parametrize("path,role", ENDPOINTS)
def test_oversized_json_is_413(live: tuple[httpx.Client, str], path: str, role: str) -> None:
    client, token = live
    body = json.dumps({"node_name": "x" * 20_000}).encode()

    r = post(client, path, role, token, body)

    assert r.status_code == 413 and "too large" in r.json()["detail"]


def test_oversized_chunked_body_without_length_is_413(live: tuple[httpx.Client, str]) -> None:
    client, _ = live

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * 1024

    r = client.post("/v1/enrolment-tokens", content=chunks(), headers=ADMIN)

    assert r.status_code == 413


def test_unknown_route_and_method_are_json_4xx(live: tuple[httpx.Client, str]) -> None:
    client, _ = live
    assert client.get("/v1/nope").status_code == 404
    r = client.delete("/v1/nodes", headers=ADMIN)
    assert r.status_code == 405 and r.json()["detail"]
