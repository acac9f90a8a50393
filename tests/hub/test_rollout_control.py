"""Rollouts over HTTP: gates, soak time, min nodes, pause/resume/abort, and a hub restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from edgemark.hub import HubSettings, ServerThread

from ._support import ADMIN, bearer, enrol_node


def beat(client: httpx.Client, token: str, version: str | None, **health: Any) -> None:
    body: dict[str, Any] = {"active_version": version}
    if health:
        body["health"] = {"version": version, **health}
    r = client.post("/v1/heartbeats", json=body, headers=bearer(token))
    assert r.status_code == 200, r.text


def fleet(client: httpx.Client, n: int, make_bundle: Callable[..., bytes]) -> dict[str, str]:
    tokens = {f"store-{i}": enrol_node(client, f"store-{i}")[1] for i in range(n)}
    for v in ("v1", "v2"):
        assert client.post(
            "/v1/bundles", content=make_bundle(v, v.encode()), headers=ADMIN
        ).is_success
    start(client, {"version": "v1", "waves": [100]})
    for token in tokens.values():
        beat(client, token, "v1", decisions=1000, errors=1, decide_p99_us=250.0)
    assert latest(client)["state"] == "completed"
    return tokens


def start(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/v1/rollouts", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return dict(r.json())


def latest(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get("/v1/rollouts", headers=ADMIN).json()["rollouts"][0])


def assigned(client: httpx.Client, tokens: dict[str, str]) -> dict[str, str | None]:
    return {
        n: client.get("/v1/assignment", headers=bearer(t)).json()["version"]
        for n, t in tokens.items()
    }


def wait_for(client: httpx.Client, state: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (r := latest(client))["state"] != state and time.monotonic() < deadline:
        time.sleep(0.02)
    return r


def test_a_failing_error_rate_gate_rolls_the_wave_back(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    tokens = fleet(client, 4, make_bundle)
    start(client, {"version": "v2", "waves": [25, 100], "soak_heartbeats": 2,
                   "gates": {"min_decisions": 500}})  # fmt: skip
    canary = [n for n, v in assigned(client, tokens).items() if v == "v2"]
    assert len(canary) == 1

    beat(client, tokens[canary[0]], "v2", decisions=600, errors=60)  # 10 % vs 0.1 %

    r = wait_for(client, "rolled_back")
    assert r["state"] == "rolled_back"
    assert "gate error_rate failed: wave 0.1000 vs rest 0.0010" in r["events"][-1]["what"]
    assert set(assigned(client, tokens).values()) == {"v1"}
    failed = [g for g in r["last_gates"] if g["status"] == "fail"]
    assert [g["gate"] for g in failed] == ["error_rate"]


def test_healthy_gates_advance_and_complete(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    tokens = fleet(client, 4, make_bundle)
    start(client, {"version": "v2", "waves": [25, 50, 100], "gates": {"min_decisions": 500}})
    seen = []
    for _ in range(3):
        for name, version in assigned(client, tokens).items():
            beat(client, tokens[name], version, decisions=1000, errors=1, decide_p99_us=300.0)
        seen.append({g["gate"]: g["status"] for g in latest(client)["last_gates"]})
    r = latest(client)
    assert r["state"] == "completed", r["events"]
    assert seen[0]["error_rate"] == "pass" and seen[0]["decide_p99"] == "pass"
    # the last wave has no nodes left on v1: latency is not compared with the baseline
    assert seen[-1]["error_rate"] == "pass" and seen[-1]["decide_p99"] == "no_data"


def test_soak_time_and_min_nodes(client: httpx.Client, make_bundle: Callable[..., bytes]) -> None:
    tokens = fleet(client, 6, make_bundle)
    r = start(client, {"version": "v2", "waves": [10, 100], "min_nodes": 3, "soak_seconds": 0.4})
    assert r["wave_sizes"] == [3, 6]
    canary = [n for n, v in assigned(client, tokens).items() if v == "v2"]
    assert len(canary) == 3
    began = time.monotonic()
    for name in canary:
        beat(client, tokens[name], "v2")
    assert latest(client)["current_wave"] == 0  # soaked by heartbeats, not yet by time

    moved = wait_for_wave(client, 1)

    assert moved and time.monotonic() - began >= 0.35


def wait_for_wave(client: httpx.Client, wave: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if latest(client)["current_wave"] == wave:
            return True
        time.sleep(0.02)
    return False


def test_pause_resume_abort(client: httpx.Client, make_bundle: Callable[..., bytes]) -> None:
    tokens = fleet(client, 4, make_bundle)
    rid = start(client, {"version": "v2", "waves": [25, 100]})["id"]
    canary = next(n for n, v in assigned(client, tokens).items() if v == "v2")

    paused = client.post(f"/v1/rollouts/{rid}/pause", json={"reason": "lunch"}, headers=ADMIN)
    beat(client, tokens[canary], "v2")

    assert paused.json()["state"] == "paused"
    assert latest(client)["current_wave"] == 0  # soaked, but paused: no advance
    assert client.post(f"/v1/rollouts/{rid}/pause", headers=ADMIN).status_code == 409
    resumed = client.post(f"/v1/rollouts/{rid}/resume", headers=ADMIN).json()
    assert resumed["state"] == "in_progress" and resumed["current_wave"] == 1
    assert set(assigned(client, tokens).values()) == {"v2"}
    aborted = client.post(f"/v1/rollouts/{rid}/abort", json={"reason": "oops"}, headers=ADMIN)
    assert aborted.json()["state"] == "aborted"
    assert aborted.json()["events"][-1]["what"] == "aborted by bootstrap: oops"
    assert set(assigned(client, tokens).values()) == {"v1"}
    assert client.post(f"/v1/rollouts/{rid}/resume", headers=ADMIN).status_code == 409
    assert client.post("/v1/rollouts/nope/abort", headers=ADMIN).status_code == 404


def test_revoked_member_does_not_block_and_late_nodes_join_the_last_wave(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    tokens = fleet(client, 4, make_bundle)
    start(client, {"version": "v2", "waves": [50, 100]})
    canary = [n for n, v in assigned(client, tokens).items() if v == "v2"]
    client.post(f"/v1/nodes/{canary[0]}/revoke", headers=ADMIN)
    beat(client, tokens[canary[1]], "v2")
    assert latest(client)["current_wave"] == 1
    _, late = enrol_node(client, "store-late")
    assert client.get("/v1/assignment", headers=bearer(late)).json()["version"] == "v2"
    beat(client, late, "v1")  # joins the last wave, which must now wait for it too
    for name, token in tokens.items():
        if name != canary[0]:
            beat(client, token, "v2")
    assert latest(client)["state"] == "in_progress"
    beat(client, late, "v2")
    assert latest(client)["state"] == "completed"


def test_the_rollout_resumes_after_a_hub_restart(
    settings: HubSettings, make_bundle: Callable[..., bytes]
) -> None:
    with ServerThread(settings) as hub, httpx.Client(base_url=hub.url) as client:
        tokens = fleet(client, 4, make_bundle)
        rid = start(client, {"version": "v2", "waves": [25, 50, 100], "soak_heartbeats": 2})["id"]
        first = assigned(client, tokens)
        canary = next(n for n, v in first.items() if v == "v2")
        beat(client, tokens[canary], "v2")  # one of two soak heartbeats
    with ServerThread(settings) as hub, httpx.Client(base_url=hub.url) as client:
        assert assigned(client, tokens) == first
        beat(client, tokens[canary], "v2")
        assert latest(client)["current_wave"] == 1
        second = assigned(client, tokens)
        for _ in range(2):
            for name, version in second.items():
                beat(client, tokens[name], version)
        paused = client.post(f"/v1/rollouts/{rid}/pause", headers=ADMIN).json()
    assert paused["current_wave"] == 2
    with ServerThread(settings) as hub, httpx.Client(base_url=hub.url) as client:
        assert latest(client)["state"] == "paused"
        client.post(f"/v1/rollouts/{rid}/resume", headers=ADMIN)
        for _ in range(2):
            for name, version in assigned(client, tokens).items():
                beat(client, tokens[name], version)
        r = latest(client)
    assert r["state"] == "completed"
    assert [e["what"].split(" (")[0] for e in r["events"]] == [
        "wave 1 of 3 started", "wave 2 of 3 started", "wave 3 of 3 started",
        "paused by bootstrap", "resumed by bootstrap", "completed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "health",
    [{"decisions": 5, "errors": 6}, {"decisions": 5, "treatment_conversions": 1},
     {"decisions": 5, "treatment_exposures": 1, "treatment_conversions": 2}],
)  # fmt: skip
def test_inconsistent_health_is_422(client: httpx.Client, health: dict[str, int]) -> None:
    _, token = enrol_node(client, "store-1")
    r = client.post(
        "/v1/heartbeats", json={"active_version": "v1", "health": {"version": "v1", **health}},
        headers=bearer(token),
    )  # fmt: skip
    assert r.status_code == 422
