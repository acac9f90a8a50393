"""DP-FedAvg without Ray: node updates, the server step, the Flower apps over an in-process
grid, and node shards that hold only a node's own, training-consented events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.events import Event
from edgemark.federated import (
    DPFedAvgConfig,
    DPFedAvgServer,
    auc,
    calibrate_noise,
    client_update,
    init_params,
    local_sgd,
    predict,
)
from edgemark.federated._data import frame_arrays

flwr = pytest.importorskip("flwr")
pytest.importorskip("duckdb")
from edgemark.federated._flower_client import _train  # noqa: E402
from edgemark.federated._flower_server import TrainingPlan, Variant, run_plan  # noqa: E402

T0 = 1767571200.0


def blobs(n: int, seed: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose label depends on two features (non-IID through ``shift``)."""
    rng = np.random.default_rng(seed)
    x = rng.gamma(1.0 + shift, 2.0, size=(n, 5))
    logit = -1.5 + 0.9 * np.arcsinh(x[:, 0]) - 0.6 * np.arcsinh(x[:, 1])
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return x, y


def test_node_update_is_clipped_and_carries_its_noise_share() -> None:
    x, y = blobs(400, 0)
    cfg = DPFedAvgConfig(clip_norm=0.05, local_epochs=3)
    start = init_params(5)
    clean = client_update(start, x, y, cfg, noise_std=0.0)
    assert np.linalg.norm(clean) == pytest.approx(0.05)
    raw = local_sgd(start, x, y, epochs=3, lr=cfg.local_lr, batch_size=cfg.batch_size)
    assert np.allclose(clean / 0.05, (raw - start) / np.linalg.norm(raw - start))
    noisy = np.array([client_update(start, x, y, cfg, noise_std=0.2) - clean for _ in range(300)])
    assert noisy.std() == pytest.approx(0.2, rel=0.1)


def test_server_tops_up_the_noise_of_absent_nodes() -> None:
    cfg = DPFedAvgConfig(clip_norm=1.0, noise_multiplier=2.0, server_momentum=0.0)
    draws = []
    for _ in range(400):
        server = DPFedAvgServer(np.zeros(6), cfg, nodes=10)
        # 4 of 10 nodes answered with zero updates: the sum must still carry (z*C)^2.
        draws.append(server.apply([np.zeros(6)] * 4) * 10)
    assert np.std(draws) == pytest.approx(2.0 * np.sqrt(6 / 10), rel=0.1)


def test_the_served_model_averages_the_later_half_of_the_iterates() -> None:
    cfg = DPFedAvgConfig(clip_norm=1.0, noise_multiplier=0.0, server_momentum=0.0)
    server = DPFedAvgServer(np.zeros(2), cfg, nodes=1)
    assert np.array_equal(server.model, server.params)  # before any round
    for step in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 2.0], [2.0, 0.0]):
        server.apply([np.array(step)])
    # iterates: (1,0) (1,1) (2,2) (2,4) (4,4); rounds 3..5 are averaged.
    assert server.model == pytest.approx([8 / 3, 10 / 3])
    assert np.array_equal(server.params, [4.0, 4.0])


def test_averaging_steadies_a_model_that_noise_moves() -> None:
    # Nodes pull towards the optimum and add their noise share, with the bench's noise
    # (epsilon 8 over 100 nodes) and momentum 0.9: the averaged model strays from the
    # optimum clearly less than the last iterate (measured: 0.63 of its distance).
    cfg = DPFedAvgConfig(clip_norm=0.5, noise_multiplier=3.8, server_momentum=0.9)
    rng = np.random.default_rng(5)
    target = np.array([0.5, -0.3, 0.2, 0.1])
    last, averaged = [], []
    for _ in range(200):
        server = DPFedAvgServer(np.zeros(4), cfg, nodes=100)
        for _ in range(30):
            pull = 0.05 * (target - server.params)
            noise = rng.normal(0.0, server.client_noise_std, (100, 4))
            server.apply(list(pull + noise))
        last.append(np.linalg.norm(server.params - target))
        averaged.append(np.linalg.norm(server.model - target))
    assert np.median(averaged) < 0.75 * np.median(last)


@pytest.fixture
def task_identity() -> Iterator[None]:
    """What a Flower process sets before an app runs (messages read the run id from it)."""
    from flwr.supercore.task_identity import TaskIdentity

    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = 1, 1, 0
    try:
        yield
    finally:
        TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


class InProcessGrid:
    """A Flower Grid stand-in that delivers each message to the ClientApp's train function."""

    def __init__(self, shard_paths: list[Path]) -> None:
        self.paths = shard_paths
        self.sent: list[Any] = []

    def get_node_ids(self) -> Iterable[int]:
        return range(1, len(self.paths) + 1)

    def send_and_receive(self, messages: Iterable[Any], **_: Any) -> list[Any]:
        replies = []
        for message in messages:
            self.sent.append(message)
            node = message.metadata.dst_node_id
            ctx = flwr.app.Context(1, node, {"data-path": str(self.paths[node - 1])},
                                   flwr.app.RecordDict(), {})  # fmt: skip
            replies.append(_train(message, ctx))
        return replies


def test_flower_apps_learn_and_stop_at_the_budget(tmp_path: Path, task_identity: None) -> None:
    paths = []
    for k in range(30):
        x, y = blobs(200, k, shift=k / 15)
        paths.append(tmp_path / f"n{k}.npz")
        np.savez(paths[-1], x=x, y=y)
    x_test, y_test = blobs(3000, 99, shift=0.8)
    z = calibrate_noise(8.0, 8, 1.0)
    capped = Variant("capped", DPFedAvgConfig(noise_multiplier=z, clip_norm=0.3), budget=8.0)
    plain = Variant("plain", DPFedAvgConfig(noise_multiplier=0.0, clip_norm=0.3))
    plan = TrainingPlan([capped, plain], rounds=12, n_features=5, x_test=x_test, y_test=y_test)
    grid = InProcessGrid(paths)

    run_plan(grid, plan)  # type: ignore[arg-type]

    rows = {v: [r for r in plan.history if r["variant"] == v] for v in ("capped", "plain")}
    assert len(rows["plain"]) == 12 and len(rows["capped"]) == 8
    assert "training stops after 8 rounds" in plan.stopped["capped"]
    eps = [r["epsilon"] for r in rows["capped"]]
    assert eps == sorted(eps) and eps[-1] <= 8.0 and rows["plain"][-1]["epsilon"] is None
    best = auc(y_test, (np.arcsinh(x_test) @ [0.9, -0.6, 0, 0, 0]))
    assert rows["plain"][-1]["auc"] > best - 0.02
    assert rows["capped"][-1]["auc"] > 0.5 + (best - 0.5) * 0.7
    assert auc(y_test, predict(plan.params["plain"], x_test)) == rows["plain"][-1]["auc"]
    # The reply of a node is its noised, clipped updates and nothing else.
    reply = _train(grid.sent[0], flwr.app.Context(1, 1, {"data-path": str(paths[0])},
                                                  flwr.app.RecordDict(), {}))  # fmt: skip
    assert list(reply.content.keys()) == ["updates"]
    assert [a.shape for a in reply.content["updates"].to_numpy_ndarrays()] == [(6,), (6,)]


def test_shards_hold_only_the_nodes_own_consented_events() -> None:
    def visit(user: str, node: str, day: int, consent: bool, buy: bool) -> list[Event]:
        ts = T0 + day * 86400.0 + 3600.0
        kw = {"consent_training": consent, "consent_personalization": True}
        out = [Event(f"{user}-{node}-{day}-v", ts, user, "view", node, **kw)]
        if buy:
            out.append(Event(f"{user}-{node}-{day}-p", ts + 60, user, "purchase", node,
                             amount=10.0, **kw))  # fmt: skip
        return out

    events = [
        *visit("alice", "store-1", 1, True, False),
        *visit("alice", "store-2", 2, True, True),
        *visit("bob", "store-1", 1, False, True),
        *visit("bob", "store-1", 9, False, True),
    ]
    nodes, x, y, times = frame_arrays(events, [T0 + 5 * 86400.0])
    # alice appears once per store she visited, each row built from that store's events;
    # bob never consented to training and contributes nothing.
    assert sorted(nodes) == ["store-1", "store-2"]
    by_node = dict(zip(nodes, x[:, 2], strict=True))  # purchases_7d
    assert by_node == {"store-1": 0.0, "store-2": 1.0}
    assert list(y) == [0.0, 0.0] and set(times) == {T0 + 5 * 86400.0}


def test_a_compact_model_trains_and_noises_only_its_coordinates() -> None:
    x, y = blobs(400, 1)
    cfg = DPFedAvgConfig(clip_norm=0.1, noise_multiplier=1.0, features=(0, 1))
    update = client_update(init_params(5), x, y, cfg, noise_std=0.5)
    assert update[2:5].tolist() == [0.0, 0.0, 0.0] and np.all(update[[0, 1, 5]] != 0)
    server = DPFedAvgServer(np.zeros(6), cfg, nodes=10)
    stepped = server.apply([update])  # nine nodes missing: the top-up noise stays compact
    assert stepped[2:5].tolist() == [0.0, 0.0, 0.0] and np.all(stepped[[0, 1, 5]] != 0)
