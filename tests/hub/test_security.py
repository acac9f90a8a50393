"""Scoped admin tokens, node revocation, enrolment expiry, rate limits, and no secret in logs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest
from sqlalchemy import create_engine, text

from edgemark.hub import HubSettings, ServerThread

from ._support import ADMIN, ADMIN_TOKEN, bearer, enrol_node, heartbeat


def make_token(client: httpx.Client, scope: str) -> str:
    r = client.post("/v1/admin-tokens", json={"name": f"ci-{scope}", "scope": scope}, headers=ADMIN)
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == scope and r.json()["token"].startswith("ema_")
    return str(r.json()["token"])


def test_scopes_nest_read_deploy_admin(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    read, deploy, admin = (make_token(client, s) for s in ("read", "deploy", "admin"))
    bundle = make_bundle("v1")
    enrol_node(client, "store-1")

    assert client.get("/v1/nodes", headers=bearer(read)).status_code == 200
    assert client.get("/v1/audit", headers=bearer(read)).status_code == 200
    denied = client.post("/v1/bundles", content=bundle, headers=bearer(read))
    assert denied.status_code == 403 and "deploy scope" in denied.json()["detail"]
    assert client.post("/v1/bundles", content=bundle, headers=bearer(deploy)).status_code == 201
    started = client.post("/v1/rollouts", json={"version": "v1"}, headers=bearer(deploy))
    assert started.status_code == 201
    no_admin = client.post("/v1/enrolment-tokens", json={"node_name": "x"}, headers=bearer(deploy))
    assert no_admin.status_code == 403 and "admin scope" in no_admin.json()["detail"]
    assert client.get("/v1/admin-tokens", headers=bearer(admin)).status_code == 200
    ok = client.post("/v1/enrolment-tokens", json={"node_name": "x"}, headers=bearer(admin))
    assert ok.status_code == 201


def test_revoked_admin_token_is_refused_at_once(client: httpx.Client) -> None:
    token = make_token(client, "read")
    token_id = client.get("/v1/admin-tokens", headers=ADMIN).json()["tokens"][0]["id"]
    assert client.get("/v1/nodes", headers=bearer(token)).status_code == 200

    r = client.post(f"/v1/admin-tokens/{token_id}/revoke", headers=ADMIN)

    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    refused = client.get("/v1/nodes", headers=bearer(token))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_revoked_node_is_refused_at_once_and_can_be_re_enrolled(client: httpx.Client) -> None:
    node_id, token = enrol_node(client, "store-1")
    heartbeat(client, token, None)

    r = client.post("/v1/nodes/store-1/revoke", json={"reason": "stolen"}, headers=ADMIN)

    assert r.status_code == 200 and r.json()["revoked_at"] is not None
    for method, path, body in [("GET", "/v1/assignment", None),
                               ("POST", "/v1/heartbeats", {}),
                               ("POST", "/v1/reports", {"reports": []})]:  # fmt: skip
        refused = client.request(method, path, json=body, headers=bearer(token))
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"], path
    again_id, new = enrol_node(client, "store-1")
    assert again_id == node_id
    assert client.get("/v1/assignment", headers=bearer(new)).status_code == 200
    assert client.get("/v1/assignment", headers=bearer(token)).status_code == 401


def test_enrolment_tokens_expire(settings: HubSettings) -> None:
    with (
        ServerThread(replace(settings, enrolment_ttl_s=0.2)) as hub,
        httpx.Client(base_url=hub.url) as client,
    ):
        tok = client.post("/v1/enrolment-tokens", json={"node_name": "s1"}, headers=ADMIN).json()
        time.sleep(0.3)
        r = client.post(
            "/v1/nodes/enrol",
            json={"enrolment_token": tok["enrolment_token"], "node_name": "s1"},
        )
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_rate_limit_per_client_answers_429(settings: HubSettings) -> None:
    limited = replace(settings, rate_limit_per_s=1.0, rate_limit_burst=5)
    with ServerThread(limited) as hub, httpx.Client(base_url=hub.url) as client:
        codes = [client.get("/v1/nodes", headers=ADMIN).status_code for _ in range(8)]
        other = client.get("/v1/nodes", headers=bearer("ema_someone-else")).status_code
        health = client.get("/healthz").status_code
        last = client.get("/v1/nodes", headers=ADMIN)

    assert codes == [200] * 5 + [429] * 3
    assert other == 401  # another client has its own bucket
    assert health == 200
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1


def test_admin_tokens_are_stored_hashed(client: httpx.Client, settings: HubSettings) -> None:
    token = make_token(client, "deploy")
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        dump = "\n".join(
            str(row)
            for table in ("admin_tokens", "audit_log", "nodes", "enrolment_tokens")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )
    engine.dispose()
    assert token not in dump and token[4:] not in dump and ADMIN_TOKEN not in dump


def test_no_secret_is_ever_logged(
    settings: HubSettings, caplog: pytest.LogCaptureFixture, make_bundle: Callable[..., bytes]
) -> None:
    secrets: list[str] = [ADMIN_TOKEN]
    with (
        caplog.at_level(logging.DEBUG),
        ServerThread(settings) as hub,
        httpx.Client(base_url=hub.url) as client,
    ):
        secrets.append(make_token(client, "admin"))
        tok = client.post("/v1/enrolment-tokens", json={"node_name": "s1"}, headers=ADMIN)
        secrets.append(tok.json()["enrolment_token"])
        node = client.post(
            "/v1/nodes/enrol", json={"enrolment_token": secrets[-1], "node_name": "s1"}
        ).json()
        secrets.append(node["node_token"])
        heartbeat(client, node["node_token"], None)
        client.post("/v1/nodes/enrol", json={"enrolment_token": secrets[-2], "node_name": "s1"})
        client.get("/v1/nodes", headers=bearer(secrets[1] + "x"))
        client.post("/v1/bundles", content=make_bundle("v1"), headers=bearer(secrets[1]))
        client.post("/v1/nodes/s1/revoke", headers=bearer(secrets[1]))
        client.post("/v1/heartbeats", json={}, headers=bearer(node["node_token"]))
    text_logged = "\n".join(f"{r.getMessage()} {r.args} {r.exc_text or ''}" for r in caplog.records)
    assert len(caplog.records) > 0
    for secret in secrets:
        assert secret not in text_logged
        assert secret.split("_", 1)[-1] not in text_logged
