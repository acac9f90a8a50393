"""Federated tasks over the hub's API: open, one update per node, close and collect."""

from __future__ import annotations

import httpx

from ._support import ADMIN, bearer, enrol_node

SETTINGS = {"clip_norm": 0.5, "noise_std": 0.1, "local_epochs": 2, "local_lr": 0.1,
            "batch_size": 32}  # fmt: skip


def task(round_: int = 1, n: int = 3) -> dict[str, object]:
    return {"run_id": "run-1", "round": round_, "params": [0.0] * n, "settings": SETTINGS}


def test_nodes_answer_once_and_the_trainer_collects(client: httpx.Client) -> None:
    _, a = enrol_node(client, "store-a")
    _, b = enrol_node(client, "store-b")
    assert client.get("/v1/federated/task", headers=bearer(a)).json() == {"task": None}
    opened = client.post("/v1/federated/tasks", json=task(), headers=ADMIN)
    assert opened.status_code == 201
    task_id = opened.json()["task_id"]
    got = client.get("/v1/federated/task", headers=bearer(a)).json()["task"]
    settings = {**SETTINGS, "features": None}
    assert got == {"task_id": task_id, "run_id": "run-1", "round": 1,
                   "params": [0.0, 0.0, 0.0], "settings": settings}  # fmt: skip
    update = {"task_id": task_id, "update": [0.1, -0.2, 0.3]}
    assert client.post("/v1/federated/updates", json=update, headers=bearer(a)).json() == {
        "stored": True
    }
    again = client.post("/v1/federated/updates", json=update, headers=bearer(a))
    assert again.json() == {"stored": False}  # one update per node and task
    assert client.get("/v1/federated/task", headers=bearer(a)).json() == {"task": None}
    short = {"task_id": task_id, "update": [0.1]}
    assert client.post("/v1/federated/updates", json=short, headers=bearer(b)).status_code == 422
    extra = {**update, "user": "u1"}
    assert client.post("/v1/federated/updates", json=extra, headers=bearer(b)).status_code == 422
    # Nodes cannot open or close tasks; admins cannot send updates.
    assert client.post("/v1/federated/tasks", json=task(2), headers=bearer(a)).status_code == 403
    assert client.post("/v1/federated/updates", json=update, headers=ADMIN).status_code == 403

    closed = client.post(f"/v1/federated/tasks/{task_id}/close", headers=ADMIN).json()

    assert closed == {"updates": [[0.1, -0.2, 0.3]], "nodes": ["store-a"]}
    late = client.post("/v1/federated/updates", json=update, headers=bearer(b))
    assert late.status_code == 409
    assert client.post("/v1/federated/tasks", json=task(), headers=ADMIN).status_code == 409
    assert client.post("/v1/federated/tasks/999/close", headers=ADMIN).status_code == 404
