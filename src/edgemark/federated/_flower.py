"""The Flower apps: a ServerApp that runs DP-FedAvg over the Message API and ClientApps
that train on their own node's rows and answer with clipped, noised updates only.

One run can train several variants side by side (e.g. epsilon 1, 3, 8 and no DP): each
message carries one parameter vector per variant, so a simulation starts Ray once.
Flower is the ``federated`` extra; this module imports it at import time, so the package
imports it only inside functions. ``server_app`` / ``client_app`` are the deployment
entry points (``edgemark.federated._flower:server_app`` in a Flower app's pyproject); the
hub's ServerApp (ledger) and the edge's ClientApp (journal) build on the same pieces:
``deployment_plan`` + ``run_deployment`` and ``make_client_app(rows)``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from edgemark.errors import ConfigError, PrivacyBudgetExceeded
from edgemark.federated._deploy import NODE_NAME, deployment_run_id, write_result
from edgemark.federated._dp import gaussian_noise
from edgemark.federated._fedavg import DPFedAvgConfig, DPFedAvgServer, client_update
from edgemark.federated._model import auc, init_params, predict

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
RoundHook = Callable[[dict[str, Any]], None]
Rows = tuple[FloatArray, FloatArray]
RowSource = Callable[[Message, Context], Rows]
NAME_QUERY = f"{MessageType.QUERY}.node_name"
log = logging.getLogger(__name__)


@dataclass
class Variant:
    """One model trained in the run: its name, DP settings and epsilon budget."""

    name: str
    cfg: DPFedAvgConfig
    budget: float | None = None


@dataclass
class TrainingPlan:
    """What the ServerApp runs; ``x_test``/``y_test`` (optional) give the AUC per round.

    With ``ask_names`` the nodes are asked their names first (``node_names``) and every
    round's row lists them all: node-level DP charges each node of the run.
    """

    variants: list[Variant]
    rounds: int
    n_features: int
    min_nodes: int = 1
    seed: int = 0
    shards_dir: str = ""
    x_test: FloatArray | None = None
    y_test: FloatArray | None = None
    wait_s: float = 60.0
    ask_names: bool = False
    node_names: dict[int, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)
    params: dict[str, FloatArray] = field(default_factory=dict)
    payload_bytes: list[int] = field(default_factory=list)


def run_plan(grid: Grid, plan: TrainingPlan, hook: RoundHook | None = None) -> None:
    """The server loop: sample, send, receive, aggregate, account, evaluate, per round."""
    node_ids = _wait_for_nodes(grid, plan.min_nodes, plan.wait_s)
    if plan.ask_names:
        plan.node_names = ask_node_names(grid, node_ids, plan.wait_s)
        node_ids = sorted(plan.node_names)  # a node that did not answer takes no part
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
            row = _round_row(plan, server, rnd, name, len(replies), began)
            plan.history.append(row)
            if hook is not None:
                hook(row)
    plan.params = {name: s.model for name, s in servers.items()}


def _round_row(
    plan: TrainingPlan, server: DPFedAvgServer, rnd: int, name: str, clients: int, began: float
) -> dict[str, Any]:
    epsilon: float | None = server.accountant.record_round()
    if server.cfg.noise_multiplier == 0:
        epsilon = None  # no DP: no finite epsilon
    row = {
        "round": rnd,
        "variant": name,
        "clients": clients,
        "epsilon": epsilon,
        "delta": server.cfg.delta,
        "auc": _auc(plan, server.model),
        "seconds": time.perf_counter() - began,
    }
    if plan.ask_names:
        row["nodes"] = sorted(set(plan.node_names.values()))
    return row


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


# -- node names ----------------------------------------------------------------------------


def ask_node_names(grid: Grid, node_ids: list[int], timeout: float) -> dict[int, str]:
    """Ask every node its hub enrolment name (one QUERY message each); the nodes that
    answered, by Flower node id. A reply holding anything but a valid name is refused."""
    messages = [
        Message(RecordDict(), dst_node_id=node, message_type=NAME_QUERY, group_id="names")
        for node in node_ids
    ]
    names: dict[int, str] = {}
    for reply in grid.send_and_receive(messages, timeout=timeout):
        if reply.has_error():
            log.warning("node %s did not answer the name query: it takes no part in the run",
                        reply.metadata.src_node_id)  # fmt: skip
            continue
        names[reply.metadata.src_node_id] = _name_in(reply)
    if not names:
        raise ConfigError(
            f"none of the {len(node_ids)} connected nodes answered the name query; are the "
            "SuperNodes running edgemark's ClientApp?"
        )
    return names


def _name_in(reply: Message) -> str:
    content = reply.content
    keys = list(content.keys())
    record = content.config_records.get("node") if keys == ["node"] else None
    fields = list(record.keys()) if record is not None else keys
    name = record.get("name") if record is not None and fields == ["name"] else None
    if not (isinstance(name, str) and NODE_NAME.match(name)):
        shown = repr(name) if isinstance(name, str) else f"the fields {fields}"
        raise ConfigError(
            f"node {reply.metadata.src_node_id} answered the name query with {shown}; the "
            "answer must be its hub enrolment name alone (letters, digits, '.', '_', '-', at "
            "most 64): set node-name in the SuperNode's --node-config"
        )
    return name


def answer_name(message: Message, context: Context) -> Message:
    """A node's answer to the name query: its hub enrolment name (node-config
    ``node-name``, default ``flower-node-<Flower node id>``) and nothing else."""
    name = context.node_config.get("node-name") or f"flower-node-{context.node_id}"
    return Message(RecordDict({"node": ConfigRecord({"name": str(name)})}), reply_to=message)


# -- the client --------------------------------------------------------------------------

_SHARDS: dict[str, Rows] = {}


def load_shard(path: str) -> Rows:
    """A node's own rows (``x``, ``y`` in an .npz file), cached per process."""
    if path not in _SHARDS:
        with np.load(path) as data:
            _SHARDS[path] = (np.asarray(data["x"]), np.asarray(data["y"]))
    return _SHARDS[path]


def _shard_rows(message: Message, context: Context) -> Rows:
    own = context.node_config.get("data-path")
    if own:
        return load_shard(str(own))
    shards_dir = str(message.content.config_records["config"]["shards-dir"])
    return load_shard(
        str(Path(shards_dir) / f"shard-{int(context.node_config['partition-id'])}.npz")
    )


def answer_train(message: Message, x: FloatArray, y: FloatArray) -> Message:
    """The reply to a train message: one clipped, noised update per model, trained on
    ``x``, ``y`` (the node's noise share alone when it has no rows) and nothing else."""
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
        if x.shape[1] != len(start) - 1:
            raise ConfigError(
                f"this node's rows have {x.shape[1]} features, the model {len(start) - 1}; "
                "set n-features in the run config to the node's feature count"
            )
        updates.append(client_update(start, x, y, cfg, noise_std=float(std)))  # type: ignore[arg-type]
    return Message(RecordDict({"updates": ArrayRecord(updates)}), reply_to=message)


def train_on(rows: RowSource) -> Callable[[Message, Context], Message]:
    """A ClientApp train function over the node's rows from ``rows``."""

    def train(message: Message, context: Context) -> Message:
        x, y = rows(message, context)
        return answer_train(message, x, y)

    return train


_train = train_on(_shard_rows)


def make_client_app(rows: RowSource = _shard_rows) -> ClientApp:
    """A ClientApp: trains on the rows ``rows`` gives (default: the node's .npz shard),
    answers with updates only, and tells the ServerApp its name when asked."""
    app = ClientApp()
    app.train()(train_on(rows))
    app.query(NAME_QUERY.split(".")[1])(answer_name)
    return app


client_app = make_client_app()


# -- deployment ----------------------------------------------------------------------------


def deployment_plan(context: Context) -> TrainingPlan:
    """The plan of a deployment run from its run config (``rounds``, ``epsilon``,
    ``noise-multiplier``, ``clip-norm``, ``sample-rate``, ``min-nodes``, ``n-features``,
    ``test-path``); ConfigError for a value that does not fit."""
    cfg = context.run_config
    dp = DPFedAvgConfig(
        clip_norm=_number(cfg, "clip-norm", 0.5),
        noise_multiplier=_number(cfg, "noise-multiplier", 1.0),
        sample_rate=_number(cfg, "sample-rate", 1.0),
    )
    budget = _number(cfg, "epsilon", 0.0) if "epsilon" in cfg else None
    plan = TrainingPlan(
        variants=[Variant("fl", dp, budget)],
        rounds=_integer(cfg, "rounds", 3),
        n_features=_integer(cfg, "n-features", 29),
        min_nodes=_integer(cfg, "min-nodes", 1),
        ask_names=True,
    )
    if "test-path" in cfg:
        plan.x_test, plan.y_test = load_shard(str(cfg["test-path"]))
    return plan


def _number(cfg: dict[str, Any], key: str, default: float) -> float:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"run config {key} must be a number, got {value!r}")
    return float(value)


def _integer(cfg: dict[str, Any], key: str, default: int) -> int:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"run config {key} must be an integer >= 1, got {value!r}")
    return value


def run_deployment(
    grid: Grid, context: Context, plan: TrainingPlan, hook: RoundHook | None = None
) -> None:
    """Run ``plan`` for a deployment run; ``hook`` sees every round after it is written to
    the run config's ``out`` (if set), so the file holds every round run, even when the
    hook or the run fails."""
    run_id = deployment_run_id(context.run_id)
    out = context.run_config.get("out")
    path = Path(str(out)) if out else None

    def save(error: str | None = None) -> None:
        if path is not None:
            params = {k: v.tolist() for k, v in plan.params.items()}
            write_result(path, run_id, plan.history, plan.stopped, params, error)

    def each_round(row: dict[str, Any]) -> None:
        try:
            save()
        finally:
            if hook is not None:
                hook(row)

    save()  # a path that cannot be written fails before round 1
    error: str | None = None
    try:
        run_plan(grid, plan, each_round)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        save(error)


def _deployment_main(grid: Grid, context: Context) -> None:
    """Deployment entry: settings from the run config, results written to ``out``."""
    run_deployment(grid, context, deployment_plan(context))


server_app = ServerApp()
server_app.main()(_deployment_main)
