"""Non-IID node shards from ``edgemark.sim``: each store's training rows come from its own
events only, and only from customers with training consent.

A user is keyed by (node, user), as with the nodes' own pseudonym keys: a customer who
shops at two stores is two rows, each seen by one node. Rows before the split time train
(on the nodes, or pooled for the central baseline); rows after it are the held-out set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import ConfigError
from edgemark.events import EVENT_COLUMNS, Event
from edgemark.features import DEFAULT_SPEC, FeatureSpec, build_training_frame
from edgemark.sim import RetailWorld, SimConfig

DAY = 86400.0
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NodeShard:
    """One node's training rows (features as the spec computes them, purchase labels)."""

    node: str
    x: FloatArray
    y: FloatArray

    @property
    def rows(self) -> int:
        """Number of training rows."""
        return len(self.y)


@dataclass(frozen=True)
class FederatedData:
    """Shards for the nodes, the pooled held-out set and the pooled training rows."""

    feature_names: tuple[str, ...]
    shards: tuple[NodeShard, ...]
    x_test: FloatArray
    y_test: FloatArray

    @property
    def x_train(self) -> FloatArray:
        """Every node's training rows, pooled (the central baseline's data)."""
        return np.concatenate([s.x for s in self.shards])

    @property
    def y_train(self) -> FloatArray:
        """Labels of ``x_train``."""
        return np.concatenate([s.y for s in self.shards])


def node_scoped_table(events: Sequence[Event]) -> object:
    """A pyarrow table of ``events`` whose user is ``node/user`` (what one node can join)."""
    pa = require("pyarrow", "train")
    columns: dict[str, list[object]] = {name: [] for name in EVENT_COLUMNS}
    for event in events:
        for name in EVENT_COLUMNS:
            columns[name].append(getattr(event, name))
    columns["user"] = [f"{n}/{u}" for n, u in zip(columns["node"], columns["user"], strict=True)]
    return pa.table(columns)


def frame_arrays(
    events: Sequence[Event],
    label_times: Sequence[float],
    spec: FeatureSpec = DEFAULT_SPEC,
    horizon_days: float = 7.0,
) -> tuple[list[str], FloatArray, FloatArray, FloatArray]:
    """(node of each row, features, label, label_time) of the node-scoped training frame."""
    frame = build_training_frame(node_scoped_table(events), spec, label_times, horizon_days)
    nodes = [str(u).split("/", 1)[0] for u in frame["user"].tolist()]
    x = frame[list(spec.names)].to_numpy(np.float64)
    return nodes, x, frame["label"].to_numpy(np.float64), frame["label_time"].to_numpy(np.float64)


def simulate_shards(
    *,
    nodes: int = 100,
    customers: int = 20000,
    days: int = 35,
    seed: int = 7,
    step_days: int = 3,
    test_share: float = 0.3,
    horizon_days: float = 7.0,
) -> FederatedData:
    """Simulate ``days`` of history at ``nodes`` stores and cut it into node shards.

    Label times every ``step_days`` from day 7 to ``days - horizon``; the last
    ``test_share`` of them are held out (pooled over all nodes).
    """
    if days < 7 + 2 * step_days + horizon_days:
        raise ConfigError(f"days={days} is too short for a train and a test period; use >= 21")
    config = SimConfig(customers=customers, nodes=nodes, days=days, seed=seed)
    world = RetailWorld(config)
    start = config.start
    last = int(days - horizon_days)
    times = [start + d * DAY for d in range(7, last + 1, step_days)]
    split = times[max(1, round(len(times) * (1 - test_share)))]
    row_nodes, x, y, t = frame_arrays(world.history(days), times, horizon_days=horizon_days)
    # Training rows end one label horizon before the split, so no label sees the test period.
    train = t <= split - horizon_days * DAY
    test = t >= split
    by_node = np.array(row_nodes)
    shards = tuple(
        NodeShard(node, x[train & (by_node == node)], y[train & (by_node == node)])
        for node in world.nodes
    )
    return FederatedData(tuple(DEFAULT_SPEC.names), shards, x[test], y[test])
