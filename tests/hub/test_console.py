"""The operator console over HTTP: login, pages, actions, scopes, errors, no external URLs."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from edgemark.hub import ServerThread, _ledger
from edgemark.measure import uplift_from_reports

from ._console_support import Fleet, login, make_fleet, send_reports
from ._support import ADMIN, ADMIN_TOKEN, bearer

PAGES = ("fleet", "rollouts", "experiments", "privacy", "audit", "bundles")
EXTERNAL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.I)


@pytest.fixture
def console(hub: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.url, timeout=10, follow_redirects=False) as c:
        yield c


@pytest.fixture
def fleet(client: httpx.Client, make_bundle: Callable[..., bytes]) -> Fleet:
    return make_fleet(client, make_bundle)


def test_login_sets_a_strict_httponly_session_cookie(console: httpx.Client, fleet: Fleet) -> None:
    r = console.post("/console/login", data={"token": ADMIN_TOKEN})
    assert r.status_code == 303 and r.headers["location"] == "/console/fleet"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert ADMIN_TOKEN.lower() not in cookie  # the session does not carry the token


@pytest.mark.parametrize("token, status", [("wrong-token-000000000000", 401), ("", 401)])
def test_a_bad_token_gets_the_login_page_again(
    console: httpx.Client, token: str, status: int
) -> None:
    r = console.post("/console/login", data={"token": token})
    assert r.status_code == status and "Log in" in r.text and "set-cookie" not in r.headers


def test_a_node_token_cannot_log_in(console: httpx.Client, fleet: Fleet) -> None:
    r = console.post("/console/login", data={"token": fleet.node_tokens["store-0"]})
    assert r.status_code == 403 and "Node tokens cannot log in" in r.text


def test_login_from_another_site_is_refused(console: httpx.Client, fleet: Fleet) -> None:
    r = console.post(
        "/console/login", data={"token": ADMIN_TOKEN}, headers={"Origin": "http://evil.example"}
    )
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_every_page_needs_a_session(console: httpx.Client) -> None:
    for page in PAGES:
        r = console.get(f"/console/{page}")
        assert r.status_code == 401, page
        assert "Please log in" in r.text and 'href="/console/login"' in r.text


def test_every_page_renders_with_no_external_url(console: httpx.Client, fleet: Fleet) -> None:
    login(console, ADMIN_TOKEN)
    for page in (*PAGES, f"rollouts/{fleet.rollout_id}", "bundles/v2", "login"):
        r = console.get(f"/console/{page}")
        assert r.status_code == 200, (page, r.text[:500])
        assert r.headers["content-security-policy"].startswith("default-src 'self'")
        assert r.headers["server-timing"].startswith("app;dur=")
        assert not EXTERNAL.findall(r.text), (page, EXTERNAL.findall(r.text))
        assert "<script>" not in r.text  # no inline script: the CSP would block it
    for asset in ("console.css", "console.js"):
        r = console.get(f"/console/static/{asset}")
        assert r.status_code == 200 and not EXTERNAL.findall(r.text)
    plotly = console.get("/console/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) > 1_000_000


def test_the_fleet_page_shows_nodes_versions_and_offline_ones(
    console: httpx.Client, fleet: Fleet
) -> None:
    login(console, ADMIN_TOKEN)
    page = console.get("/console/fleet").text
    for name in fleet.node_tokens:
        assert f"<td>{name}</td>" in page
    assert "3 nodes, by name" in page and "Nodes by serving bundle version" in page
    offline = console.get("/console/fleet", params={"status": "offline"}).text
    assert "0 offline nodes" in offline  # every node sent a heartbeat just now


def _pause(console: httpx.Client, rollout_id: str, csrf: str | None) -> httpx.Response:
    data = {"reason": "checking the canary"} | ({"csrf": csrf} if csrf else {})
    return console.post(f"/console/rollouts/{rollout_id}/pause", data=data)


def test_pause_and_resume_need_csrf_and_land_in_the_audit_log(
    console: httpx.Client, client: httpx.Client, fleet: Fleet
) -> None:
    csrf = login(console, fleet.deploy_token)
    assert _pause(console, fleet.rollout_id, None).status_code == 403
    assert _pause(console, fleet.rollout_id, "forged").status_code == 403
    assert client.get(f"/v1/rollouts/{fleet.rollout_id}", headers=ADMIN).json()["state"] == (
        "in_progress"
    )
    r = _pause(console, fleet.rollout_id, csrf)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=paused")
    assert client.get(f"/v1/rollouts/{fleet.rollout_id}", headers=ADMIN).json()["state"] == "paused"
    again = _pause(console, fleet.rollout_id, csrf)
    assert again.status_code == 409 and "Cannot pause" in again.text
    r = console.post(f"/console/rollouts/{fleet.rollout_id}/resume", data={"csrf": csrf})
    assert r.status_code == 303
    entries = client.get("/v1/audit", headers=ADMIN).json()["entries"]
    actions = [(e["action"], e["actor"]) for e in entries[-2:]]
    assert [a for a, _ in actions] == ["rollout.paused", "rollout.resumed"]
    assert {actor for _, actor in actions} == {_token_id(client, "deployer")}
    audit = console.get("/console/audit").text
    assert "rollout.paused" in audit and "The chain verifies" in audit


def _token_id(client: httpx.Client, name: str) -> str:
    tokens = client.get("/v1/admin-tokens", headers=ADMIN).json()["tokens"]
    return str(next(t["id"] for t in tokens if t["name"] == name))


def test_a_read_only_token_sees_pages_but_cannot_act(
    console: httpx.Client, client: httpx.Client, fleet: Fleet
) -> None:
    csrf = login(console, fleet.read_token)
    page = console.get(f"/console/rollouts/{fleet.rollout_id}").text
    assert "read-only" in page and "Pause…" not in page
    confirm = console.get(f"/console/rollouts/{fleet.rollout_id}/pause")
    assert confirm.status_code == 403 and "needs the deploy scope" in confirm.text
    assert _pause(console, fleet.rollout_id, csrf).status_code == 403
    assert client.get(f"/v1/rollouts/{fleet.rollout_id}", headers=ADMIN).json()["state"] == (
        "in_progress"
    )


def test_a_revoked_token_ends_its_sessions(
    console: httpx.Client, client: httpx.Client, fleet: Fleet
) -> None:
    login(console, fleet.read_token)
    token_id = _token_id(client, "reader")
    assert client.post(f"/v1/admin-tokens/{token_id}/revoke", headers=ADMIN).status_code == 200
    r = console.get("/console/fleet")
    assert r.status_code == 401 and "revoked" in r.text


def test_a_forged_cookie_is_refused(console: httpx.Client, fleet: Fleet) -> None:
    login(console, fleet.read_token)
    value = console.cookies["edgemark_console"]
    console.cookies.clear()
    console.cookies.set("edgemark_console", value[:-2] + "00", path="/console")
    assert console.get("/console/fleet").status_code == 401


def test_unknown_pages_rollouts_and_bundles_get_a_404_page(
    console: httpx.Client, fleet: Fleet
) -> None:
    login(console, ADMIN_TOKEN)
    for path in ("nope", "rollouts/rollout-999-abc", "bundles/v404", "rollouts/x/explode"):
        r = console.get(f"/console/{path}")
        assert r.status_code == 404 and "Not found" in r.text, path


def _rows(node: int, conversions: dict[str, int], exposures: int) -> list[dict[str, Any]]:
    return [
        {"idempotency_key": f"n{node}-d1-{arm}", "day": 1, "experiment": "exp1", "arm": arm,
         "exposures": exposures, "conversions": c, "revenue": 10.0 * c, "epsilon": 0.5 + node,
         "count_noise_scale": 2.0, "revenue_noise_scale": 50.0}
        for arm, c in conversions.items()
    ]  # fmt: skip


def test_experiments_show_the_uplift_of_the_reports_with_intervals(
    console: httpx.Client, client: httpx.Client, fleet: Fleet
) -> None:
    login(console, ADMIN_TOKEN)
    assert "No DP reports have reached the hub yet" in console.get("/console/experiments").text
    tokens = list(fleet.node_tokens.values())
    send_reports(client, tokens[0], _rows(0, {"holdout": 40, "pct10": 70, "pct20": 41}, 1000))
    send_reports(client, tokens[1], _rows(1, {"holdout": 30, "pct10": 55, "pct20": 33}, 800))
    page = console.get("/console/experiments").text
    rows = client.get("/v1/reports", headers=ADMIN).json()["reports"]
    expected = uplift_from_reports(rows, experiment="exp1", strata_key="node_id")
    for e in expected:
        assert f"{e.uplift * 100:,.2f}" in page
        assert f"{e.ci_low * 100:,.2f} to {e.ci_high * 100:,.2f}" in page
    assert "works: give it more of the budget" in page  # pct10: interval above zero
    assert "unclear: keep testing" in page  # pct20
    assert "Holdout exposures" in page and "1,800" in page
    assert "shows no attribution" in page


def test_too_few_exposures_are_called_out(
    console: httpx.Client, client: httpx.Client, fleet: Fleet
) -> None:
    login(console, ADMIN_TOKEN)
    send_reports(client, fleet.node_tokens["store-0"], _rows(0, {"holdout": 3, "pct10": 5}, 50))
    page = console.get("/console/experiments").text
    assert "Not enough data for a chart yet" in page and "not enough data (needs 200" in page


def test_privacy_shows_the_hubs_ledger_of_report_epsilon(
    console: httpx.Client, client: httpx.Client, fleet: Fleet
) -> None:
    login(console, ADMIN_TOKEN)
    token = fleet.node_tokens["store-1"]
    send_reports(client, token, _rows(1, {"holdout": 3, "pct10": 5}, 50))  # day 1, eps 1.5
    day2 = [dict(r, idempotency_key=f"{r['idempotency_key']}-2", day=2, epsilon=0.25)
            for r in _rows(1, {"holdout": 3}, 50)]  # fmt: skip
    send_reports(client, token, day2)
    page = console.get("/console/privacy").text
    # a day costs its largest epsilon (one arm per user and day), days add up: 1.5 + 0.25
    assert "<td>store-1</td>" in page and '<td class="num">1.750</td>' in page
    ledger = client.get("/v1/privacy/ledger", headers=ADMIN).json()  # agreement A
    spent = {n["node_id"]: n["epsilon_spent"] for n in ledger["nodes"]}
    assert sorted(spent.values()) == [0.0, 0.0, 1.75]


def _fake_ledger(node_ids: list[str]) -> dict[str, Any]:
    """A ledger with exactly the shape of agreement A (SESSION2.md)."""
    return {
        "delta": 1e-6,
        "fleet": {"epsilon_spent": 9.5, "budget": 10.0},
        "nodes": [
            {"node_id": node_ids[0], "epsilon_reports": 6.0, "epsilon_federated": 3.5,
             "epsilon_spent": 9.5, "budget": 10.0},
            {"node_id": node_ids[1], "epsilon_reports": 1.0, "epsilon_federated": 0.5,
             "epsilon_spent": 1.5, "budget": None},
        ],
        "rounds": [{"run_id": "fl-1", "round": 1, "epsilon_cumulative": 1.5, "clients": 3,
                    "auc": 0.71},
                   {"run_id": "fl-1", "round": 2, "epsilon_cumulative": 3.5, "clients": 3,
                    "auc": None}],
    }  # fmt: skip


def test_privacy_shows_the_ledger_against_budgets(
    console: httpx.Client, client: httpx.Client, fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = client.get("/v1/nodes", headers=ADMIN).json()["nodes"]
    ids = {n["name"]: n["node_id"] for n in nodes}
    ledger = _fake_ledger([ids["store-0"], ids["store-1"]])
    monkeypatch.setattr(_ledger, "privacy_ledger", lambda _session, _budget=None: ledger)
    login(console, ADMIN_TOKEN)
    page = console.get("/console/privacy").text
    assert "<td>store-0</td>" in page and "95 %" in page  # 9.5 of 10 spent
    assert "1 nodes have spent at least 80% of their budget" in page
    assert "Cumulative epsilon by round" in page and '"y":[1.5,3.5]' in page
    assert "card bad" in page  # the fleet is at 95% of its budget


def test_the_bundle_page_shows_manifest_card_and_signature(
    console: httpx.Client, fleet: Fleet
) -> None:
    login(console, ADMIN_TOKEN)
    page = console.get("/console/bundles/v2").text
    assert "present, 64 bytes, key k1" in page  # an Ed25519 signature is 64 bytes
    assert "model.onnx" in page and "&quot;version&quot;: &quot;v2&quot;" in page


def test_the_fleet_filters_drifting_nodes_and_sorts_worst_first(
    console: httpx.Client, client: httpx.Client, fleet: Fleet
) -> None:
    for name, p99, psi in (
        ("store-0", 300.0, 0.05),
        ("store-1", 900.0, 0.4),
        ("store-2", 150.0, 0.3),
    ):
        health = {"version": "v1", "decisions": 100, "decide_p99_us": p99, "drift_psi": psi}
        r = client.post("/v1/heartbeats", headers=bearer(fleet.node_tokens[name]), json={
            "active_version": "v1", "latency_p99_us": p99, "health": health})  # fmt: skip
        assert r.status_code == 200
    login(console, ADMIN_TOKEN)
    drifting = console.get("/console/fleet", params={"status": "drifting"}).text
    assert "2 drifting nodes" in drifting
    assert "<td>store-1</td>" in drifting and "<td>store-0</td>" not in drifting
    slowest = console.get("/console/fleet", params={"order": "p99"}).text
    order = [slowest.index(f"<td>{n}</td>") for n in ("store-1", "store-0", "store-2")]
    assert order == sorted(order) and "slowest decide P99 first" in slowest
    most_drift = console.get("/console/fleet", params={"order": "psi"}).text
    assert most_drift.index("<td>store-1</td>") < most_drift.index("<td>store-2</td>")
    odd = console.get("/console/fleet", params={"status": "<x>", "order": "1;drop"})
    assert odd.status_code == 200 and "3 nodes, by name" in odd.text
