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


RATES = {"kind": "offer_rates", "clip_norm": 0.5, "noise_std": 0.2,
         "offers": ["none", "pct10", "bogo"], "experiment": "offers-demo"}  # fmt: skip


def test_an_offer_rates_task_names_its_arms_and_takes_one_rate_per_arm(
    client: httpx.Client,
) -> None:
    _, a = enrol_node(client, "store-a")
    body = {"run_id": "priors-1", "round": 1, "params": [0.1, 0.1, 0.1], "settings": RATES}
    opened = client.post("/v1/federated/tasks", json=body, headers=ADMIN)
    assert opened.status_code == 201, opened.text
    task_id = opened.json()["task_id"]
    got = client.get("/v1/federated/task", headers=bearer(a)).json()["task"]
    assert got["settings"] == RATES  # no model-training settings on a rates task
    assert got["params"] == [0.1, 0.1, 0.1]
    four = {"task_id": task_id, "update": [0.1, 0.2, 0.3, 0.4]}
    assert client.post("/v1/federated/updates", json=four, headers=bearer(a)).status_code == 422
    three = {"task_id": task_id, "update": [0.12, 0.19, -0.05]}  # noised rates may be < 0
    assert client.post("/v1/federated/updates", json=three, headers=bearer(a)).json() == {
        "stored": True
    }
    closed = client.post(f"/v1/federated/tasks/{task_id}/close", headers=ADMIN).json()
    assert closed == {"updates": [[0.12, 0.19, -0.05]], "nodes": ["store-a"]}


def test_inconsistent_task_kinds_are_refused_with_a_reason(client: httpx.Client) -> None:
    _, a = enrol_node(client, "store-a")

    def open_(settings: dict[str, object], n: int = 3) -> httpx.Response:
        body = {"run_id": "bad", "round": 1, "params": [0.0] * n, "settings": settings}
        return client.post("/v1/federated/tasks", json=body, headers=ADMIN)

    no_offers = {k: v for k, v in RATES.items() if k != "offers"}
    cases = [
        (no_offers, "needs settings.offers"),
        ({**RATES, "offers": ["none", "pct10"]}, "must name 3 distinct arms"),
        ({**RATES, "offers": ["none", "none", "bogo"]}, "must name 3 distinct arms"),
        ({**RATES, "features": [0, 1]}, "trains nothing"),
        ({**RATES, "local_epochs": 2}, "trains nothing"),
        ({**SETTINGS, "offers": ["a", "b", "c"]}, "takes no 'offers'"),
        ({**SETTINGS, "experiment": "x"}, "takes no 'offers'"),
        ({**RATES, "kind": "gradients"}, "kind"),
        ({**RATES, "offers": ["none", "", "bogo"]}, "offers"),
        ({**RATES, "noise_std": -1.0}, "noise_std"),
    ]
    for settings, reason in cases:
        answer = open_(settings)
        assert answer.status_code == 422, (settings, answer.text)
        assert reason in answer.json()["detail"], (settings, answer.text)
    assert client.get("/v1/federated/task", headers=bearer(a)).json() == {"task": None}
    assert open_(RATES).status_code == 201  # the same run and round open fine once valid
