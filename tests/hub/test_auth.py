"""Enrolment (one-time tokens) and authentication/authorisation of every role."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import create_engine, text

from edgemark.hub import HubSettings

from ._support import ADMIN, ADMIN_TOKEN, bearer, enrol_node


def test_healthz_needs_no_auth(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_enrolment_gives_a_node_token_that_authenticates(client: httpx.Client) -> None:
    node_id, token = enrol_node(client, "store-1")

    r = client.get("/v1/assignment", headers=bearer(token))

    assert r.status_code == 200
    assert r.json() == {"version": None, "sha256": None, "rollout_id": None}
    listed = client.get("/v1/nodes", headers=ADMIN).json()["nodes"]
    assert [(n["node_id"], n["name"]) for n in listed] == [(node_id, "store-1")]


def test_enrolment_token_is_one_time(client: httpx.Client) -> None:
    tok = client.post("/v1/enrolment-tokens", json={"node_name": "store-1"}, headers=ADMIN)
    body = {"enrolment_token": tok.json()["enrolment_token"], "node_name": "store-1"}
    assert client.post("/v1/nodes/enrol", json=body).status_code == 201

    again = client.post("/v1/nodes/enrol", json=body)

    assert again.status_code == 401
    assert "already used" in again.json()["detail"]


def test_enrolment_token_is_bound_to_its_node_name(client: httpx.Client) -> None:
    tok = client.post("/v1/enrolment-tokens", json={"node_name": "store-1"}, headers=ADMIN)
    body = {"enrolment_token": tok.json()["enrolment_token"], "node_name": "store-2"}

    r = client.post("/v1/nodes/enrol", json=body)

    assert r.status_code == 401
    assert "store-1" in r.json()["detail"]


def test_unknown_enrolment_token_is_401(client: httpx.Client) -> None:
    r = client.post("/v1/nodes/enrol", json={"enrolment_token": "nope", "node_name": "store-1"})
    assert r.status_code == 401


def test_re_enrolment_rotates_the_token_and_keeps_the_node_id(client: httpx.Client) -> None:
    node_id, old = enrol_node(client, "store-1")

    again_id, new = enrol_node(client, "store-1")

    assert again_id == node_id and new != old
    assert client.get("/v1/assignment", headers=bearer(old)).status_code == 401
    assert client.get("/v1/assignment", headers=bearer(new)).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, bearer("wrong-token")],
)
def test_missing_or_invalid_credentials_are_401(
    client: httpx.Client, headers: dict[str, str]
) -> None:
    for method, path in [("GET", "/v1/nodes"), ("GET", "/v1/assignment"), ("GET", "/v1/bundles")]:
        r = client.request(method, path, headers=headers)
        assert r.status_code == 401, (path, r.text)
        assert r.json()["detail"]
        assert r.headers["WWW-Authenticate"] == "Bearer"


def test_node_on_admin_endpoints_is_403(client: httpx.Client) -> None:
    _, token = enrol_node(client, "store-1")
    for method, path in [
        ("GET", "/v1/nodes"), ("GET", "/v1/bundles"), ("GET", "/v1/rollouts"),
        ("GET", "/v1/reports"), ("POST", "/v1/enrolment-tokens"),
    ]:  # fmt: skip
        r = client.request(method, path, headers=bearer(token), json={"node_name": "x"})
        assert r.status_code == 403, (path, r.text)
        assert "admin" in r.json()["detail"]


def test_admin_on_node_endpoints_is_403(client: httpx.Client) -> None:
    assert client.get("/v1/assignment", headers=ADMIN).status_code == 403
    r = client.post("/v1/heartbeats", json={}, headers=ADMIN)
    assert r.status_code == 403
    assert client.post("/v1/reports", json={"reports": []}, headers=ADMIN).status_code == 403


def test_database_holds_only_token_hashes(client: httpx.Client, settings: HubSettings) -> None:
    _, token = enrol_node(client, "store-1")
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_sha256 FROM nodes")).scalar_one()
        dump = "\n".join(str(r) for r in conn.execute(text("SELECT * FROM enrolment_tokens")))
    engine.dispose()

    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token not in dump and ADMIN_TOKEN not in dump
