"""The demo's federated rounds between simulated days, run from the hub side: open a task
with the global model, let the nodes answer during their sync with clipped, noised
updates from their own consented events, close it, aggregate (DP-FedAvg), account epsilon
and record the round in the hub's privacy ledger. Stops before the budget is exceeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgemark.errors import PrivacyBudgetExceeded
from edgemark.features import DEFAULT_SPEC
from edgemark.federated import (
    DPFedAvgConfig,
    DPFedAvgServer,
    auc,
    calibrate_noise,
    init_params,
    predict,
)
from edgemark.hub import close_federated_task, open_federated_task, record_federated_round

RUN_ID = "demo-fedavg"
# A compact model: with four nodes, node-level DP noise on the mean update is large and
# every trained coordinate carries it; four visit and purchase features keep it learnable.
FEATURES = ("recency_view_days", "views_7d", "sessions_30d", "purchases_30d")


@dataclass
class FederatedRounds:
    """DP-FedAvg over the demo's nodes through the hub's federated task API."""

    hub_url: str
    token: str
    nodes: int
    rounds: int
    epsilon: float
    x_test: Any
    y_test: Any
    cfg: DPFedAvgConfig = field(init=False)
    server: DPFedAvgServer = field(init=False)
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: str | None = None
    _task: int | None = None

    def __post_init__(self) -> None:
        z = calibrate_noise(self.epsilon, self.rounds, 1.0)
        used = tuple(DEFAULT_SPEC.names.index(name) for name in FEATURES)
        self.cfg = DPFedAvgConfig(clip_norm=0.5, noise_multiplier=z, server_momentum=0.5,
                                  local_epochs=2, features=used)  # fmt: skip
        n_features = int(np.asarray(self.x_test).shape[1])
        self.server = DPFedAvgServer(init_params(n_features), self.cfg, self.nodes, self.epsilon)

    def open(self) -> bool:
        """Open the next round unless it would exceed the budget (then say why, once)."""
        if self.stopped is not None or len(self.history) >= self.rounds:
            return False
        try:
            self.server.accountant.check_next()
        except PrivacyBudgetExceeded as exc:
            self.stopped = str(exc)
            return False
        settings = {"clip_norm": self.cfg.clip_norm, "noise_std": self.server.client_noise_std,
                    "local_epochs": self.cfg.local_epochs, "local_lr": self.cfg.local_lr,
                    "batch_size": self.cfg.batch_size,
                    "features": list(self.cfg.features or ())}  # fmt: skip
        task = {"run_id": RUN_ID, "round": len(self.history) + 1,
                "params": self.server.params.tolist(), "settings": settings}  # fmt: skip
        self._task = open_federated_task(self.hub_url, self.token, task)
        return True

    def close(self) -> None:
        """Collect the nodes' updates, take the server step, account and record the round."""
        if self._task is None:
            return
        answer = close_federated_task(self.hub_url, self.token, self._task)
        self._task = None
        updates = [np.asarray(u, dtype=np.float64) for u in answer["updates"]]
        self.server.apply(updates)
        epsilon = self.server.accountant.record_round()
        score = auc(self.y_test, predict(self._served(), self.x_test))
        row = {"round": len(self.history) + 1, "clients": len(updates), "epsilon": epsilon,
               "auc": score, "nodes": sorted(answer["nodes"])}  # fmt: skip
        self.history.append(row)
        record_federated_round(self.hub_url, self.token, {
            "run_id": RUN_ID, "round": row["round"], "epsilon_cumulative": epsilon,
            "delta": self.cfg.delta, "clients": len(updates),
            "auc": score if math.isfinite(score) else None, "nodes": row["nodes"],
        })  # fmt: skip

    def _served(self) -> Any:
        # Five rounds are too few to average: the iterates are still climbing, so the demo
        # serves the last one (longer runs serve the average of the later half).
        return self.server.params

    def summary(self, central_auc: float) -> dict[str, Any]:
        """Figures for ``summary.json``."""
        final = self.history[-1]["auc"] if self.history else None
        return {
            "rounds": self.history,
            "auc_federated": final,
            "auc_central": central_auc,
            "epsilon_spent": self.history[-1]["epsilon"] if self.history else 0.0,
            "epsilon_budget": self.epsilon,
            "delta": self.cfg.delta,
            "noise_multiplier": self.cfg.noise_multiplier,
            "clip_norm": self.cfg.clip_norm,
            "features": list(FEATURES),
            "stopped": self.stopped,
            "params": self._served().tolist(),
        }
