"""The server side of edgemark's Flower apps: the DP-FedAvg loop over the Message API
(sample, send, aggregate, account, evaluate per round) and the query that asks every
connected node its hub enrolment name, so node-level DP can charge each of them.

One run can train several variants side by side (e.g. epsilon 1, 3, 8 and no DP): each
message carries one parameter vector per variant, so a simulation starts Ray once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.serverapp import Grid, ServerApp

from edgemark.errors import ConfigError, PrivacyBudgetExceeded
from edgemark.federated._deploy import NODE_NAME
from edgemark.federated._fedavg import DPFedAvgConfig, DPFedAvgServer
from edgemark.federated._model import auc, init_params, predict

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
RoundHook = Callable[[dict[str, Any]], None]
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
    reply_timeout_s: float | None = None  # None: wait for every reply (the simulation)
    ask_names: bool = False
    node_names: dict[int, str] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)
    params: dict[str, FloatArray] = field(default_factory=dict)
    payload_bytes: list[int] = field(default_factory=list)


def run_plan(grid: Grid, plan: TrainingPlan, hook: RoundHook | None = None) -> None:
    """The server loop: sample, send, receive, aggregate, account, evaluate, per round."""
    node_ids = wait_for_nodes(grid, plan.min_nodes, plan.wait_s)
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
    for reply in grid.send_and_receive(messages, timeout=plan.reply_timeout_s):
        if reply.has_error():
            continue  # a node that failed counts as absent; the server tops up the noise
        arrays = reply.content.array_records["updates"].to_numpy_ndarrays()
        plan.payload_bytes.append(sum(int(a.nbytes) for a in arrays))
        out.append([np.asarray(a, dtype=np.float64) for a in arrays])
    return out


def wait_for_nodes(grid: Grid, minimum: int, wait_s: float) -> list[int]:
    """The connected nodes, once ``minimum`` are (or ``wait_s`` has passed)."""
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
