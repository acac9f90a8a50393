"""``simulate_federated``: DP-FedAvg over simulated non-IID stores on Flower's simulation
engine, one variant per target epsilon, with the central baseline on the pooled rows.

Each target epsilon gets the smallest noise multiplier whose rounds stay within it
(dp-accounting RDP at delta 1e-6, with Poisson sampling of nodes).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgemark._extras import require
from edgemark.federated._data import FederatedData
from edgemark.federated._dp import calibrate_noise
from edgemark.federated._fedavg import DPFedAvgConfig
from edgemark.federated._model import auc, predict, train_central


@dataclass(frozen=True)
class SimulationResult:
    """Per-round AUC and epsilon of each variant, the central AUC and the run's figures."""

    rounds: list[dict[str, Any]]
    auc_central: float
    variants: dict[str, dict[str, Any]]
    stopped: dict[str, str]
    params: dict[str, list[float]]
    bytes_per_node_round: float
    wall_s: float

    def curve(self, variant: str) -> list[float | None]:
        """AUC after each round of ``variant``."""
        return [r["auc"] for r in self.rounds if r["variant"] == variant]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe figures (parameters included)."""
        return {
            "auc_central": self.auc_central,
            "variants": self.variants,
            "rounds": self.rounds,
            "stopped": self.stopped,
            "bytes_per_node_round": self.bytes_per_node_round,
            "wall_s": self.wall_s,
            "params": self.params,
        }


def variant_name(epsilon: float | None) -> str:
    """``eps8`` for epsilon 8, ``nodp`` for none."""
    return "nodp" if epsilon is None else f"eps{epsilon:g}"


def simulate_federated(
    data: FederatedData,
    *,
    rounds: int = 30,
    epsilons: Sequence[float | None] = (8.0,),
    base: DPFedAvgConfig | None = None,
    seed: int = 0,
    hook: Callable[[dict[str, Any]], None] | None = None,
    work_dir: Path | None = None,
) -> SimulationResult:
    """Train one federated model per epsilon (None: no DP) on ``data``'s node shards."""
    require("flwr", "federated")
    from edgemark.federated._flower_server import TrainingPlan, Variant

    cfg = base or DPFedAvgConfig()
    variants = []
    for eps in epsilons:
        z = 0.0 if eps is None else calibrate_noise(eps, rounds, cfg.sample_rate, cfg.delta)
        variants.append(Variant(variant_name(eps), replace(cfg, noise_multiplier=z), eps))
    central = train_central(data.x_train, data.y_train, seed=seed)
    auc_central = auc(data.y_test, predict(central, data.x_test))
    with tempfile.TemporaryDirectory(prefix="edgemark-fl-", dir=work_dir) as tmp:
        for k, shard in enumerate(data.shards):
            np.savez(Path(tmp) / f"shard-{k}.npz", x=shard.x, y=shard.y)
        plan = TrainingPlan(
            variants=variants,
            rounds=rounds,
            n_features=len(data.feature_names),
            min_nodes=len(data.shards),
            seed=seed,
            shards_dir=tmp,
            x_test=data.x_test,
            y_test=data.y_test,
        )
        wall = _run(plan, len(data.shards), hook)
    info = {v.name: {"epsilon_target": v.budget, **v.cfg.to_dict()} for v in plan.variants}
    for name, entry in info.items():
        rows = [r for r in plan.history if r["variant"] == name]
        entry["rounds_run"] = len(rows)
        entry["auc_final"] = rows[-1]["auc"] if rows else None
        entry["epsilon_spent"] = rows[-1]["epsilon"] if rows else None
    per_model = [b / max(len(variants), 1) for b in plan.payload_bytes]
    # Up and down: the node receives the parameters and sends an update of the same size.
    per_round = 2 * float(np.mean(per_model)) if per_model else 0.0
    return SimulationResult(
        rounds=plan.history,
        auc_central=auc_central,
        variants=info,
        stopped=plan.stopped,
        params={k: v.tolist() for k, v in plan.params.items()},
        bytes_per_node_round=per_round,
        wall_s=wall,
    )


def _run(plan: Any, nodes: int, hook: Callable[[dict[str, Any]], None] | None) -> float:
    import time

    from flwr.simulation import run_simulation

    from edgemark.federated._flower_client import make_client_app
    from edgemark.federated._flower_server import make_server_app

    backend = {
        "init_args": {"num_cpus": 2, "include_dashboard": False, "logging_level": "error"},
        "client_resources": {"num_cpus": 1, "num_gpus": 0.0},
    }
    began = time.perf_counter()
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    flwr_log = logging.getLogger("flwr")
    level = flwr_log.level
    flwr_log.setLevel(logging.ERROR)  # Flower logs every round at INFO
    try:
        with warnings.catch_warnings():
            # Ray's own start-up warnings (unclosed /dev/null handles, accelerator tips).
            warnings.simplefilter("ignore", ResourceWarning)
            warnings.simplefilter("ignore", FutureWarning)
            run_simulation(
                server_app=make_server_app(plan, hook),
                client_app=make_client_app(),
                num_supernodes=nodes,
                backend_config=backend,  # type: ignore[arg-type]
            )
    finally:
        flwr_log.setLevel(level)
    return time.perf_counter() - began
