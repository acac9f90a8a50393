"""The client side of edgemark's Flower apps: a node answers the name query with its
enrolment name, a train message with one clipped, noised update per model, and an
offer-rates task with K clipped, noised rates; nothing else leaves it.

Where the rows and rates come from is a parameter: the node's .npz here (simulation, or a
device that prepares its arrays), the node's journal in ``edgemark.edge._flower_client``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.clientapp import ClientApp

from edgemark.errors import ConfigError
from edgemark.federated._dp import gaussian_noise
from edgemark.federated._fedavg import DPFedAvgConfig, client_update
from edgemark.federated._flower_offers import OFFER_RATES_QUERY, offer_task_of
from edgemark.federated._flower_server import NAME_QUERY
from edgemark.federated._priors import node_rates, noised_rates

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
Rows = tuple[FloatArray, FloatArray]
RowSource = Callable[[Message, Context], Rows]
# (message, context, task) -> the node's K noised rates; the task in the hub's shape.
RateSource = Callable[[Message, Context, dict[str, Any]], list[float]]

_SHARDS: dict[str, Rows] = {}


def load_shard(path: str) -> Rows:
    """A node's own rows (``x``, ``y`` in an .npz file), cached per process."""
    if path not in _SHARDS:
        with np.load(path) as data:
            _SHARDS[path] = (np.asarray(data["x"]), np.asarray(data["y"]))
    return _SHARDS[path]


def shard_path(shards_dir: str, context: Context) -> str:
    """The node's .npz: node-config ``data-path``, else its partition's shard in
    ``shards_dir`` (simulation)."""
    own = context.node_config.get("data-path")
    if own:
        return str(own)
    return str(Path(shards_dir) / f"shard-{int(context.node_config['partition-id'])}.npz")


def _shard_rows(message: Message, context: Context) -> Rows:
    shards_dir = str(message.content.config_records["config"]["shards-dir"])
    return load_shard(shard_path(shards_dir, context))


def shard_rates(message: Message, context: Context, task: dict[str, Any]) -> list[float]:
    """A node's answer to an offer-rates task from its .npz: per-arm counts stored as
    ``arms`` (names), ``exposures`` and ``conversions`` (one per arm), centred, clipped and
    noised as the task says; ConfigError when the file holds no such counts."""
    path = shard_path(str(task.get("shards_dir", "")), context)
    with np.load(path) as data:
        missing = sorted({"arms", "exposures", "conversions"} - set(data.files))
        if missing:
            raise ConfigError(
                f"{path} holds no offer rates ({', '.join(missing)} missing): store the "
                "node's randomised per-arm counts as arms, exposures and conversions in its "
                ".npz, or run the edge's ClientApp on the node's state dir"
            )
        arms = [str(a) for a in data["arms"]]
        exposures, conversions = np.asarray(data["exposures"]), np.asarray(data["conversions"])
    if not len(arms) == len(exposures) == len(conversions):
        raise ConfigError(f"{path}: arms, exposures and conversions must be one per arm")
    s = task["settings"]
    rates = node_rates(dict(zip(arms, exposures.tolist(), strict=True)),
                       dict(zip(arms, conversions.tolist(), strict=True)), s["offers"],
                       center=task["params"])  # fmt: skip
    sent = noised_rates(rates, float(s["clip_norm"]), float(s["noise_std"]), task["params"])
    return [float(v) for v in sent]


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


def answer_name(message: Message, context: Context) -> Message:
    """A node's answer to the name query: its hub enrolment name (node-config
    ``node-name``, default ``flower-node-<Flower node id>``) and nothing else."""
    name = context.node_config.get("node-name") or f"flower-node-{context.node_id}"
    return Message(RecordDict({"node": ConfigRecord({"name": str(name)})}), reply_to=message)


def rates_on(rates: RateSource) -> Callable[[Message, Context], Message]:
    """A ClientApp query function that answers an offer-rates task with the K floats
    ``rates`` computes for it (the task in the hub task API's shape) and nothing else."""

    def answer(message: Message, context: Context) -> Message:
        task = offer_task_of(message)
        sent = np.asarray(rates(message, context, task), dtype=np.float64)
        if sent.shape != (len(task["settings"]["offers"]),) or not np.isfinite(sent).all():
            raise ConfigError(f"this node computed {sent.shape} rates, not one finite rate "
                              "per arm; nothing was sent")  # fmt: skip
        return Message(RecordDict({"rates": ArrayRecord([sent])}), reply_to=message)

    return answer


def make_client_app(rows: RowSource = _shard_rows, rates: RateSource = shard_rates) -> ClientApp:
    """A ClientApp: trains on the rows ``rows`` gives (default: the node's .npz shard) and
    answers with updates only, answers an offer-rates task with the K floats ``rates``
    gives, and tells the ServerApp its name when asked."""
    app = ClientApp()
    app.train()(train_on(rows))
    app.query(NAME_QUERY.split(".")[1])(answer_name)
    app.query(OFFER_RATES_QUERY.split(".")[1])(rates_on(rates))
    return app


client_app = make_client_app()
