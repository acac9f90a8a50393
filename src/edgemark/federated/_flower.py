"""The Flower apps: a ServerApp that runs DP-FedAvg over the Message API and a ClientApp
that trains on its own node's shard and answers with clipped, noised updates only.

One run can train several variants side by side (e.g. epsilon 1, 3, 8 and no DP): each
message carries one parameter vector per variant, so a simulation starts Ray once.
Flower is the ``federated`` extra; this module imports it at import time, so the package
imports it only inside functions. ``server_app`` / ``client_app`` are the deployment
entry points (``edgemark.federated._flower:server_app`` in a Flower app's pyproject).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from edgemark.errors import PrivacyBudgetExceeded
from edgemark.federated._dp import gaussian_noise
from edgemark.federated._fedavg import DPFedAvgConfig, DPFedAvgServer, client_update
from edgemark.federated._model import auc, init_params, predict

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
RoundHook = Callable[[dict[str, Any]], None]


@dataclass
class Variant:
    """One model trained in the run: its name, DP settings and epsilon budget."""

    name: str
    cfg: DPFedAvgConfig
    budget: float | None = None


@dataclass
class TrainingPlan:
    """What the ServerApp runs; ``x_test``/``y_test`` (optional) give the AUC per round."""

    variants: list[Variant]
    rounds: int
    n_features: int
    min_nodes: int = 1
    seed: int = 0
    shards_dir: str = ""
    x_test: FloatArray | None = None
    y_test: FloatArray | None = None
    wait_s: float = 60.0
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)
    params: dict[str, FloatArray] = field(default_factory=dict)
    payload_bytes: list[int] = field(default_factory=list)


def run_plan(grid: Grid, plan: TrainingPlan, hook: RoundHook | None = None) -> None:
    """The server loop: sample, send, receive, aggregate, account, evaluate, per round."""
    node_ids = _wait_for_nodes(grid, plan.min_nodes, plan.wait_s)
    servers = {
        v.name: DPFedAvgServer(init_params(plan.n_features), v.cfg, len(node_ids), v.budget)
        for v in plan.variants
    }
    rng = np.random.default_rng(plan.seed)
    sample_rate = plan.variants[0].cfg.sample_rate
    for rnd in range(1, plan.rounds + 1):
        live = _live_variants(servers, plan)
        if not live:
            break
        first = servers[live[0]]
        sampled = first.sample(node_ids, rng) if sample_rate < 1 else list(node_ids)
        began = time.perf_counter()
        replies = _exchange(grid, plan, servers, live, sampled, rnd)
        for k, name in enumerate(live):
            server = servers[name]
            server.apply([r[k] for r in replies])
            epsilon: float | None = server.accountant.record_round()
            if server.cfg.noise_multiplier == 0:
                epsilon = None  # no DP: no finite epsilon
            row = {
                "round": rnd,
                "variant": name,
                "clients": len(replies),
                "epsilon": epsilon,
                "auc": _auc(plan, server.model),
                "seconds": time.perf_counter() - began,
            }
            plan.history.append(row)
            if hook is not None:
                hook(row)
    plan.params = {name: s.model for name, s in servers.items()}


def _live_variants(servers: dict[str, DPFedAvgServer], plan: TrainingPlan) -> list[str]:
    live = []
    for name, server in servers.items():
        if name in plan.stopped:
            continue
        try:
            server.accountant.check_next()
        except PrivacyBudgetExceeded as exc:
            plan.stopped[name] = str(exc)
            continue
        live.append(name)
    return live


def _exchange(
    grid: Grid,
    plan: TrainingPlan,
    servers: dict[str, DPFedAvgServer],
    live: list[str],
    sampled: list[int],
    rnd: int,
) -> list[list[FloatArray]]:
    models = [servers[name].params for name in live]
    config = ConfigRecord(
        {
            "round": rnd,
            "shards-dir": plan.shards_dir,
            "settings": json.dumps([servers[n].cfg.to_dict() for n in live]),
            "noise-std": [servers[n].client_noise_std for n in live],
        }
    )
    messages = [
        Message(
            content=RecordDict({"models": ArrayRecord(models), "config": config}),
            dst_node_id=node,
            message_type=MessageType.TRAIN,
            group_id=str(rnd),
        )
        for node in sampled
    ]
    out: list[list[FloatArray]] = []
    for reply in grid.send_and_receive(messages):
        if reply.has_error():
            continue  # a node that failed counts as absent; the server tops up the noise
        arrays = reply.content.array_records["updates"].to_numpy_ndarrays()
        plan.payload_bytes.append(sum(int(a.nbytes) for a in arrays))
        out.append([np.asarray(a, dtype=np.float64) for a in arrays])
    return out


def _wait_for_nodes(grid: Grid, minimum: int, wait_s: float) -> list[int]:
    deadline = time.monotonic() + wait_s
    while True:
        ids = sorted(grid.get_node_ids())
        if len(ids) >= minimum or time.monotonic() > deadline:
            return ids
        time.sleep(0.2)


def _auc(plan: TrainingPlan, params: FloatArray) -> float | None:
    if plan.x_test is None or plan.y_test is None:
        return None
    return auc(plan.y_test, predict(params, plan.x_test))


def make_server_app(plan: TrainingPlan, hook: RoundHook | None = None) -> ServerApp:
    """A ServerApp that runs ``plan`` (simulation: the plan lives in this process)."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        run_plan(grid, plan, hook)

    return app


# -- the client --------------------------------------------------------------------------

_SHARDS: dict[str, tuple[FloatArray, FloatArray]] = {}


def load_shard(path: str) -> tuple[FloatArray, FloatArray]:
    """A node's own rows (``x``, ``y`` in an .npz file), cached per process."""
    if path not in _SHARDS:
        with np.load(path) as data:
            _SHARDS[path] = (np.asarray(data["x"]), np.asarray(data["y"]))
    return _SHARDS[path]


def _shard_path(message: Message, context: Context) -> str:
    own = context.node_config.get("data-path")
    if own:
        return str(own)
    shards_dir = str(message.content.config_records["config"]["shards-dir"])
    return str(Path(shards_dir) / f"shard-{int(context.node_config['partition-id'])}.npz")


def _train(message: Message, context: Context) -> Message:
    x, y = load_shard(_shard_path(message, context))
    config = message.content.config_records["config"]
    settings = json.loads(str(config["settings"]))
    noise = list(config["noise-std"])  # type: ignore[arg-type]
    models = message.content.array_records["models"].to_numpy_ndarrays()
    updates = []
    for params, raw, std in zip(models, settings, noise, strict=True):
        used = raw.get("features")
        cfg = DPFedAvgConfig(**{**raw, "features": None if used is None else tuple(used)})
        start = np.asarray(params, dtype=np.float64)
        if len(y) == 0:  # no consented rows: take part with noise only
            update = np.zeros_like(start)
            active = cfg.active(len(start))
            update[active] = gaussian_noise(active.shape, float(std))  # type: ignore[arg-type]
            updates.append(update)
            continue
        updates.append(client_update(start, x, y, cfg, noise_std=float(std)))  # type: ignore[arg-type]
    return Message(RecordDict({"updates": ArrayRecord(updates)}), reply_to=message)


def make_client_app() -> ClientApp:
    """The ClientApp: trains on its node's own shard and answers with updates only."""
    app = ClientApp()
    app.train()(_train)
    return app


client_app = make_client_app()


def _deployment_main(grid: Grid, context: Context) -> None:
    """Deployment entry: settings from the run config, results written to ``out``."""
    cfg = dict(context.run_config)
    dp = DPFedAvgConfig(
        clip_norm=float(cfg.get("clip-norm", 0.5)),
        noise_multiplier=float(cfg.get("noise-multiplier", 1.0)),
        sample_rate=float(cfg.get("sample-rate", 1.0)),
    )
    budget = float(cfg["epsilon"]) if "epsilon" in cfg else None
    plan = TrainingPlan(
        variants=[Variant("fl", dp, budget)],
        rounds=int(cfg.get("rounds", 3)),
        n_features=int(cfg.get("n-features", 29)),
        min_nodes=int(cfg.get("min-nodes", 1)),
    )
    if "test-path" in cfg:
        plan.x_test, plan.y_test = load_shard(str(cfg["test-path"]))
    run_plan(grid, plan)
    if "out" in cfg:
        result = {
            "history": plan.history,
            "stopped": plan.stopped,
            "params": {k: v.tolist() for k, v in plan.params.items()},
        }
        Path(str(cfg["out"])).write_text(json.dumps(result))


server_app = ServerApp()
server_app.main()(_deployment_main)
