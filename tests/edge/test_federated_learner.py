"""The node's federated learner: rows only from training-consented journal events,
labelled by purchases since the previous sync, and an update clipped to the task's norm."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import numpy as np
import pytest

from edgemark.edge._federated import FederatedLearner

T0 = 20_460 * 86400.0
DAY = 86400.0


def journal(path: Path, rows: list[tuple[str, float, str, float | None, int]]) -> None:
    db = sqlite3.connect(path / "edge.db")
    db.execute(
        "CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, pseudonym TEXT, ts REAL,"
        " type TEXT, amount REAL, offer TEXT, category TEXT, item TEXT, channel TEXT,"
        " consent INTEGER)"
    )
    for k, (user, ts, kind, amount, consent) in enumerate(rows):
        db.execute("INSERT INTO events VALUES (?,?,?,?,?,NULL,'grocery',NULL,'store',?)",
                   (f"{user}-{ts}-{k}", user, ts, kind, amount, consent))  # fmt: skip
    db.commit()
    db.close()


def test_rows_come_only_from_training_consent_and_label_the_next_day(tmp_path: Path) -> None:
    learner = FederatedLearner(tmp_path)
    all_bits, no_training = 7, 3
    journal(tmp_path, [("a", T0 + 10, "view", None, all_bits), ("b", T0 + 20, "view", None,
            all_bits), ("x", T0 + 30, "purchase", 9.0, no_training)])  # fmt: skip
    learner.ingest()  # snapshot of a and b; x never enters
    assert learner.rows == 0
    journal(tmp_path, [("a", T0 + DAY + 5, "purchase", 12.0, all_bits),
                       ("x", T0 + DAY + 9, "purchase", 3.0, no_training)])  # fmt: skip
    learner.ingest()
    assert learner.rows == 2
    assert learner._y[0].tolist() == [1.0, 0.0]  # a bought since the snapshot, b did not
    task = {"params": [0.0] * 30, "settings": {"clip_norm": 0.2, "noise_std": 0.0,
            "local_epochs": 3, "local_lr": 0.5, "batch_size": 2}}  # fmt: skip
    update = np.array(learner.update_for(task))
    assert update.shape == (30,) and 0 < np.linalg.norm(update) <= 0.2 + 1e-12
    noisy = np.array(learner.update_for({**task, "settings": {**task["settings"],
                                                              "noise_std": 1.0}}))  # fmt: skip
    assert np.linalg.norm(noisy - update) > 1.0  # the node's share of the noise is added


def test_forget_erases_a_user_from_the_learner(tmp_path: Path) -> None:
    learner = FederatedLearner(tmp_path)
    journal(tmp_path, [("a", T0 + 10, "view", None, 7), ("b", T0 + 20, "view", None, 7)])
    learner.ingest()
    learner.track_consent()
    assert learner.training_users() == {"a", "b"}
    learner.forget("a")
    assert learner.training_users() == {"b"}
    assert "a" not in learner._features.users()
    journal(tmp_path, [("b", T0 + DAY, "purchase", 5.0, 7)])
    learner.ingest()
    assert learner.rows == 1 and learner._y[0].tolist() == [1.0]  # only b's snapshot labelled


def test_erasing_a_user_at_the_node_reaches_the_agents_learner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgemark.bundle import BundleStore
    from edgemark.edge import NodeHubClient, Runtime, SyncAgent
    from edgemark.events import Event

    monkeypatch.setenv("EDGEMARK_FEDERATED", "1")
    runtime = Runtime(tmp_path / "node", "store-1", trust=None)
    hub_down = httpx.MockTransport(lambda r: httpx.Response(503))
    client = NodeHubClient("http://hub.test", "emn_x", transport=hub_down)
    agent = SyncAgent(runtime, client, BundleStore(tmp_path / "node" / "bundles"))
    try:
        for user in ("c1", "c2"):
            runtime.observe(Event(event_id=f"e-{user}", ts=T0, user=user, type="view",
                                  node="store-1", consent_training=True))  # fmt: skip
        runtime.commit()
        learner = agent.federated
        assert learner is not None
        learner.ingest()
        learner.track_consent()
        assert len(learner.training_users()) == 2
        runtime.erase_user("c1")
        assert len(learner.training_users()) == 1 and len(learner._features.users()) == 1
    finally:
        client.close()
        runtime.close()
