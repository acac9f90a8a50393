"""A deployment run waits ``reply-timeout`` seconds for the nodes' replies to a message; a
node silent by then is absent from that round (the server tops up its noise) instead of
stalling the run. An in-process grid stands in for Flower."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.errors import ConfigError

pytest.importorskip("flwr")
from flwr.app import MessageType

from edgemark.federated._flower import (
    deployment_plan,
    make_client_app,
    run_deployment,
)
from tests.federated.flower_support import AppGrid, context, task_identity


class SilentNodeGrid(AppGrid):
    """Node 102 never answers a training message; every timeout asked for is noted."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeouts: list[float | None] = []

    def send_and_receive(self, messages: Any, **kwargs: Any) -> list[Any]:
        self.timeouts.append(kwargs.get("timeout"))
        kept = [m for m in messages if not self._silent(m)]
        return super().send_and_receive(kept)

    @staticmethod
    def _silent(message: Any) -> bool:
        meta = message.metadata
        return bool(meta.dst_node_id == 102 and meta.message_type == MessageType.TRAIN)


def shards(tmp_path: Path) -> dict[int, dict[str, Any]]:
    configs = {}
    for k in range(3):
        rng = np.random.default_rng(k)
        x = rng.gamma(1.0, 2.0, size=(100, 4))
        y = (rng.random(100) < 0.3).astype(float)
        np.savez(tmp_path / f"s{k}.npz", x=x, y=y)
        configs[100 + k] = {"data-path": str(tmp_path / f"s{k}.npz"), "node-name": f"store-{k}"}
    return configs


def test_a_silent_node_is_absent_from_the_round_not_a_stall(tmp_path: Path) -> None:
    grid = SilentNodeGrid(make_client_app(), shards(tmp_path), run_id=5)
    cfg = {"rounds": 2, "n-features": 4, "min-nodes": 3, "reply-timeout": 30.0}
    with task_identity(5):
        plan = deployment_plan(context(cfg, run_id=5))
        run_deployment(grid, context(cfg, run_id=5), plan)  # type: ignore[arg-type]
    assert [r["clients"] for r in plan.history] == [2, 2]  # type: ignore[union-attr]
    # Every round and the name query waited a bounded time; rounds the configured one.
    assert None not in grid.timeouts and grid.timeouts[-2:] == [30.0, 30.0]


@pytest.mark.parametrize("bad", [0, -1.0, "soon"])
def test_a_reply_timeout_that_is_not_a_positive_number_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigError, match="reply-timeout"):
        deployment_plan(context({"rounds": 1, "reply-timeout": bad}))


def test_the_default_reply_timeout_is_ten_minutes() -> None:
    plan = deployment_plan(context({"rounds": 1}))
    assert plan.reply_timeout_s == 600.0
