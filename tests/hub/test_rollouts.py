"""The rollout controller: wave membership, soak-gated advancement, completion, rollback."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from edgemark.errors import RolloutError
from edgemark.hub import _rollouts as ro
from edgemark.hub import validate_waves, wave_sizes
from edgemark.hub._db import Bundle, Node, create_engine_for, session_factory
from edgemark.hub._migrate import upgrade

from ._support import ADMIN, bearer, enrol_node, heartbeat

# --- pure controller over a Session -------------------------------------------------------


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = create_engine_for(database_url)
    upgrade(engine)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def add_nodes(session: Session, n: int) -> list[Node]:
    nodes = [
        Node(id=f"node-{i}", name=f"store-{i}", token_sha256=f"{i:064x}", enrolled_at=0.0,
             heartbeats=0, decisions_by_version={})
        for i in range(1, n + 1)
    ]  # fmt: skip
    session.add_all(nodes)
    for v in ("v1", "v2", "v3"):
        session.add(Bundle(version=v, sha256=v * 8, key_id="k1", created=0.0, size=1, path="x"))
    session.flush()
    return nodes


def beat(
    session: Session, node: Node, version: str | None, refused: tuple[str, str] | None = None
) -> None:
    ro.on_heartbeat(session, node, version, refused, now=1.0)


def test_wave_sizes_are_ceilings_and_canary_never_empty() -> None:
    assert wave_sizes([25, 50, 100], 4) == [1, 2, 4]
    assert wave_sizes([10, 100], 3) == [1, 3]
    assert wave_sizes([1, 100], 200) == [2, 200]
    assert wave_sizes([50, 100], 10) == [5, 10]  # exact products get no extra node


@pytest.mark.parametrize("waves", [[], [0, 100], [50, 50, 100], [60, 40, 100], [25, 50], [25, 120]])
def test_invalid_waves_are_refused(waves: list[float]) -> None:
    with pytest.raises(RolloutError) as info:
        validate_waves(waves)
    assert info.value.status == 422


def test_membership_follows_sha256_of_rollout_and_node(session: Session) -> None:
    nodes = add_nodes(session, 4)

    rollout = ro.create(session, "v1", [25, 50, 100], 1, now=0.0)

    ids = [n.id for n in nodes]
    by_hash = sorted(ids, key=lambda n: hashlib.sha256((rollout.id + n).encode()).hexdigest())
    assert ro.members(session, rollout, 0) == by_hash[:1]
    assert ro.members(session, rollout, 1) == by_hash[:2]
    assert ro.members(session, rollout, 2) == by_hash


def test_advances_only_after_soak_then_completes(session: Session) -> None:
    nodes = {n.id: n for n in add_nodes(session, 4)}
    rollout = ro.create(session, "v1", [25, 50, 100], 2, now=0.0)
    canary = nodes[ro.members(session, rollout, 0)[0]]

    beat(session, canary, "v1")
    assert rollout.current_wave == 0  # one healthy heartbeat < soak of 2
    beat(session, canary, "v1")
    assert rollout.current_wave == 1

    for node_id in ro.members(session, rollout, 1):
        for _ in range(2):
            beat(session, nodes[node_id], "v1")
    assert rollout.current_wave == 2
    for node in nodes.values():
        for _ in range(2):
            beat(session, node, "v1")

    assert rollout.state == ro.COMPLETED
    assert [e.what for e in ro.events_of(session, rollout.id)] == [
        "wave 1 of 3 started (1 node)", "wave 2 of 3 started (2 nodes)",
        "wave 3 of 3 started (4 nodes)", "completed",
    ]  # fmt: skip


def test_heartbeats_on_other_versions_do_not_count(session: Session) -> None:
    nodes = add_nodes(session, 4)
    rollout = ro.create(session, "v1", [25, 50, 100], 1, now=0.0)

    for node in nodes:
        beat(session, node, None)

    assert rollout.current_wave == 0 and rollout.state == ro.IN_PROGRESS


def test_assignment_targets_wave_members_and_falls_back_after_rollback(session: Session) -> None:
    nodes = {n.id: n for n in add_nodes(session, 4)}
    first = ro.create(session, "v1", [100], 1, now=0.0)
    for node in nodes.values():
        beat(session, node, "v1")
    assert first.state == ro.COMPLETED

    second = ro.create(session, "v2", [25, 50, 100], 1, now=1.0)
    canary_id = ro.members(session, second, 0)[0]
    others = [n for i, n in nodes.items() if i != canary_id]
    assert ro.assignment_for(session, nodes[canary_id]).version == "v2"
    assert {ro.assignment_for(session, n).version for n in others} == {"v1"}

    beat(session, nodes[canary_id], "v1", refused=("v2", "model.onnx hash mismatch"))

    assert second.state == ro.ROLLED_BACK
    assert ro.events_of(session, second.id)[-1].what == (
        f"rolled back: {nodes[canary_id].name} refused v2: model.onnx hash mismatch"
    )
    assert {ro.assignment_for(session, n) for n in nodes.values()} == {
        ro.Assignment("v1", "v1" * 8, first.id)
    }


def test_second_rollout_while_one_runs_is_409_and_unknown_version_404(session: Session) -> None:
    add_nodes(session, 2)
    ro.create(session, "v1", [50, 100], 1, now=0.0)

    with pytest.raises(RolloutError) as busy:
        ro.create(session, "v2", [50, 100], 1, now=1.0)
    with pytest.raises(RolloutError) as unknown:
        ro.create(session, "v9", [100], 1, now=1.0)

    assert busy.value.status == 409 and unknown.value.status == 404


# --- the same rules over HTTP ---------------------------------------------------------------


def assignments(client: httpx.Client, tokens: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {n: client.get("/v1/assignment", headers=bearer(t)).json() for n, t in tokens.items()}


def test_rollout_over_http_advances_and_rolls_back(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    tokens = {f"store-{i}": enrol_node(client, f"store-{i}")[1] for i in range(1, 5)}
    for v in ("v1", "v2"):
        r = client.post("/v1/bundles", content=make_bundle(v, v.encode()), headers=ADMIN)
        assert r.status_code == 201
    r = client.post("/v1/rollouts", json={"version": "v1", "waves": [100]}, headers=ADMIN)
    assert r.status_code == 201, r.text
    for token in tokens.values():
        heartbeat(client, token, "v1")
    r = client.post(
        "/v1/rollouts", json={"version": "v2", "waves": [25, 50, 100], "soak_heartbeats": 1},
        headers=ADMIN,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    rollout_id = r.json()["id"]

    assigned = assignments(client, tokens)
    canary = [n for n, a in assigned.items() if a["version"] == "v2"]
    assert len(canary) == 1 and all(a["rollout_id"] == rollout_id for a in assigned.values())
    heartbeat(client, tokens[canary[0]], "v2")
    (latest, _) = client.get("/v1/rollouts", headers=ADMIN).json()["rollouts"]
    assert latest["current_wave"] == 1 and latest["state"] == "in_progress"
    wave2 = [n for n, a in assignments(client, tokens).items() if a["version"] == "v2"]
    assert len(wave2) == 2 and canary[0] in wave2
    bad = next(n for n in wave2 if n != canary[0])
    heartbeat(client, tokens[bad], "v1", {"version": "v2", "reason": "signature does not verify"})

    (latest, _) = client.get("/v1/rollouts", headers=ADMIN).json()["rollouts"]
    assert latest["state"] == "rolled_back"
    assert (
        latest["events"][-1]["what"] == f"rolled back: {bad} refused v2: signature does not verify"
    )
    for t in tokens.values():
        assert client.get("/v1/assignment", headers=bearer(t)).json()["version"] == "v1"
    busy = client.post("/v1/rollouts", json={"version": "v9", "waves": [100]}, headers=ADMIN)
    assert busy.status_code == 404


def test_conflicting_rollout_over_http_is_409(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    enrol_node(client, "store-1")
    client.post("/v1/bundles", content=make_bundle("v1"), headers=ADMIN)
    body = {"version": "v1", "waves": [50, 100]}
    assert client.post("/v1/rollouts", json=body, headers=ADMIN).status_code == 201

    r = client.post("/v1/rollouts", json=body, headers=ADMIN)

    assert r.status_code == 409 and "in progress" in r.json()["detail"]
    bad = client.post("/v1/rollouts", json={"version": "v1", "waves": [50, 40]}, headers=ADMIN)
    assert bad.status_code == 422
