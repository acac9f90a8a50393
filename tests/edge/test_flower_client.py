"""The edge's Flower ClientApp: it trains on the node's own journal (training consent only,
each day's snapshot labelled by the next day's purchases) and, without consented rows,
takes part with its share of the noise alone. No Flower process starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.errors import ConfigError

flwr = pytest.importorskip("flwr")
from edgemark.edge._flower_client import client_app, learner_for  # noqa: E402
from edgemark.federated._flower import NAME_QUERY  # noqa: E402
from tests.federated.flower_support import AppGrid, node_journal, task_identity  # noqa: E402


def train_message(noise_std: float, n_params: int = 30) -> Any:
    import json

    from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, RecordDict

    from edgemark.federated import DPFedAvgConfig

    settings = DPFedAvgConfig(clip_norm=0.5, local_epochs=2).to_dict()
    config = ConfigRecord({"round": 1, "shards-dir": "", "settings": json.dumps([settings]),
                           "noise-std": [noise_std]})  # fmt: skip
    content = RecordDict({"models": ArrayRecord([np.zeros(n_params)]), "config": config})
    return Message(content, dst_node_id=1, message_type=MessageType.TRAIN, group_id="1")


def update(state_dir: Path, noise_std: float) -> np.ndarray:
    grid = AppGrid(client_app, {1: {"state-dir": str(state_dir), "node-name": "store-1"}})
    with task_identity():
        (reply,) = grid.send_and_receive([train_message(noise_std)])
    assert not reply.has_error(), reply.error
    assert list(reply.content.keys()) == ["updates"]  # updates only cross the wire
    (vector,) = reply.content.array_records["updates"].to_numpy_ndarrays()
    return np.asarray(vector)


def test_a_node_trains_on_its_journal_replayed_day_by_day(tmp_path: Path) -> None:
    state = tmp_path / "node"
    node_journal(state, range(3), training=True)
    learner = learner_for(state)
    x, y = learner.training_rows()
    # Snapshots at the end of days 0 and 1 (40 users each) are labelled by the next day's
    # purchases: (u + 1) % 3 == 0 and (u + 2) % 3 == 0, 13 users each; day 2 is pending.
    assert learner.rows == 80 and x.shape == (80, 29) and y.sum() == 26
    clean = update(state, 0.0)
    assert clean.shape == (30,) and 0 < np.linalg.norm(clean) <= 0.5 + 1e-12
    node_journal(state, range(3, 4), training=True)  # a new day reaches the journal
    assert learner_for(state) is learner
    update(state, 0.0)  # the round folds it in: day 2's snapshot is labelled by day 3
    assert learner.rows == 120 and learner.training_rows()[1].sum() == 26 + 14  # u % 3 == 0


def test_without_training_consent_a_node_sends_its_noise_share_only(tmp_path: Path) -> None:
    state = tmp_path / "node"
    node_journal(state, range(3), training=False)
    assert learner_for(state).rows == 0
    assert np.array_equal(update(state, 0.0), np.zeros(30))
    noise = np.array([update(state, 0.7) for _ in range(40)])
    assert noise.std() == pytest.approx(0.7, rel=0.1) and abs(noise.mean()) < 0.05


def test_a_supernode_needs_the_nodes_state_dir(tmp_path: Path) -> None:
    grid = AppGrid(client_app, {1: {"node-name": "store-1"}, 2: {"state-dir": str(tmp_path)}})
    with task_identity():
        messages = [train_message(0.0), train_message(0.0)]
        messages[1].metadata.dst_node_id = 2
        missing, empty = grid.send_and_receive(messages)
    assert missing.has_error() and "no state-dir" in str(missing.error.reason)
    assert empty.has_error() and "edge.db is missing" in str(empty.error.reason)
    with pytest.raises(ConfigError, match=r"edge\.db is missing"):
        learner_for(tmp_path)


def test_the_name_query_is_answered_with_the_node_name_only(tmp_path: Path) -> None:
    from flwr.app import Message, RecordDict

    grid = AppGrid(client_app, {3: {"state-dir": str(tmp_path), "node-name": "store-0042"}})
    with task_identity():
        (reply,) = grid.send_and_receive(
            [Message(RecordDict(), dst_node_id=3, message_type=NAME_QUERY, group_id="n")]
        )
    assert list(reply.content.keys()) == ["node"]
    assert dict(reply.content.config_records["node"]) == {"name": "store-0042"}
