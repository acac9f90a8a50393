"""The offer-priors release over Flower: the ServerApp asks every connected node its name,
sends each one offer-rates task (arms, public centre, clip norm, its share of the noise),
takes back K floats per node and nothing else, and averages them into the fleet's priors.

One release costs every connected node ``epsilon_spent(1, z, 1)``; its history row has the
shape of a model round, so the hub's ledger and ``edgemark fl record`` take it as one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Message, MessageType, RecordDict
from flwr.serverapp import Grid

from edgemark.errors import ConfigError
from edgemark.federated._flower_server import RoundHook, ask_node_names, wait_for_nodes
from edgemark.federated._priors import OfferPriors, federated_offer_priors, rates_noise_std
from edgemark.federated._runconfig import OfferRatesSettings

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
OFFER_RATES_QUERY = f"{MessageType.QUERY}.offer_rates"
log = logging.getLogger(__name__)


@dataclass
class OfferRatesPlan:
    """What the ServerApp runs for an offer-rates release, and what came of it: the nodes'
    names (all charged), the history row, the priors, the replies it refused and the
    nodes that failed to answer (with their reasons)."""

    settings: OfferRatesSettings
    shards_dir: str = ""
    wait_s: float = 60.0
    reply_timeout_s: float | None = None  # None: wait for every reply
    node_names: dict[int, str] = field(default_factory=dict)
    noise_std: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    priors: OfferPriors | None = None
    refused: dict[str, str] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        """The result file's ``offer_priors`` (None before the release)."""
        if self.priors is None:
            return {"kind": "offer-rates", "offer_priors": None}
        s, p = self.settings, self.priors
        arms = list(s.arms)
        policy = p.policy_priors(s.n_features, base_variance=s.base_variance)
        return {"kind": "offer-rates", "offer_priors": {
            "arms": arms, "rates": p.rates, "alpha": p.alpha, "beta": p.beta,
            "strength": p.strength, "noise_std": p.noise_std, "epsilon": p.epsilon,
            "delta": p.delta, "epsilon_budget": s.epsilon, "noise_multiplier": s.noise_multiplier,
            "clip_norm": s.clip_norm, "center": None if s.center is None else list(s.center),
            "experiment": s.experiment, "strength_cap": s.strength, "n_features": s.n_features,
            "base_variance": s.base_variance, "refused": dict(self.refused),
            "absent": dict(self.absent), "policy_priors": policy,
        }}  # fmt: skip


def task_record(plan: OfferRatesPlan) -> ConfigRecord:
    """The task every node gets: arms, centre, clip norm and its share of the noise."""
    s = plan.settings
    body: dict[str, Any] = {"offers": list(s.arms), "clip-norm": s.clip_norm,
                            "noise-std": plan.noise_std, "shards-dir": plan.shards_dir}  # fmt: skip
    if s.center is not None:
        body["center"] = list(s.center)
    if s.experiment is not None:
        body["experiment"] = s.experiment
    return ConfigRecord(body)


def offer_task_of(message: Message) -> dict[str, Any]:
    """The task of an offer-rates message in the shape of the hub's task API
    (``params`` = the centre, 0 without one; ``settings`` with ``kind`` offer_rates)."""
    record = message.content.config_records.get("task")
    if record is None:
        raise ConfigError("an offer-rates message without its task; is the ServerApp edgemark's?")
    task: dict[str, Any] = dict(record)
    offers = [str(o) for o in task["offers"]]
    center = [float(v) for v in task.get("center", [0.0] * len(offers))]
    if len(center) != len(offers):
        raise ConfigError(f"offer-rates task with {len(offers)} arms and {len(center)} centres")
    settings = {"kind": "offer_rates", "offers": offers, "clip_norm": float(task["clip-norm"]),
                "noise_std": float(task["noise-std"])}  # fmt: skip
    if task.get("experiment"):
        settings["experiment"] = str(task["experiment"])
    return {"params": center, "settings": settings, "shards_dir": str(task.get("shards-dir", ""))}


def rates_in(reply: Message, k: int) -> FloatArray:
    """The K rates of a node's reply; ConfigError for a reply that holds anything else, a
    vector of another length, or a value that is not finite."""
    content = reply.content
    keys = list(content.keys())
    record = content.array_records.get("rates") if keys == ["rates"] else None
    arrays = record.to_numpy_ndarrays() if record is not None else []
    if len(arrays) != 1:
        raise ConfigError(
            f"its reply holds {keys} ({len(arrays)} arrays); an offer-rates answer is one "
            "record 'rates' with one vector, nothing else"
        )
    vector = arrays[0]
    if vector.dtype.kind != "f" or vector.shape != (k,) or not np.isfinite(vector).all():
        raise ConfigError(
            f"its rates are {vector.dtype} of shape {vector.shape}; the answer must be {k} "
            "finite floats, one per arm"
        )
    return np.asarray(vector, dtype=np.float64)


def run_offer_rates(grid: Grid, plan: OfferRatesPlan, hook: RoundHook | None = None) -> None:
    """Ask names, send one task per node, check the replies, aggregate (an absent or refused
    node's noise is topped up), then ``hook`` the release's history row."""
    s = plan.settings
    node_ids = wait_for_nodes(grid, s.min_nodes, plan.wait_s)
    plan.node_names = ask_node_names(grid, node_ids, plan.wait_s)
    nodes = sorted(plan.node_names)  # a node that did not answer takes no part
    plan.noise_std = rates_noise_std(s.clip_norm, s.noise_multiplier, len(nodes))
    began = time.perf_counter()
    record = task_record(plan)
    messages = [
        Message(
            RecordDict({"task": record}),
            dst_node_id=node,
            message_type=OFFER_RATES_QUERY,
            group_id="offer-rates",
        )
        for node in nodes
    ]
    answers = _answers(grid.send_and_receive(messages, timeout=plan.reply_timeout_s), plan)
    if not answers:
        raise ConfigError(
            f"none of the {len(nodes)} nodes answered the offer-rates task with valid rates "
            f"(failed: {plan.absent or 'none'}; refused: {plan.refused or 'none'}); nothing "
            "was released. Do the nodes run edgemark's ClientApp over their own state?"
        )
    plan.priors = federated_offer_priors(
        answers, s.arms, clip_norm=s.clip_norm, noise_multiplier=s.noise_multiplier,
        strength=s.strength, delta=s.delta, expected=len(nodes), center=s.center,
    )  # fmt: skip
    row = {"round": 1, "variant": "offer-rates", "clients": len(answers),
           "epsilon": plan.priors.epsilon, "delta": plan.priors.delta, "auc": None,
           "seconds": time.perf_counter() - began,
           "nodes": sorted(set(plan.node_names.values()))}  # fmt: skip
    plan.history.append(row)
    if hook is not None:
        hook(row)


def _answers(replies: Any, plan: OfferRatesPlan) -> list[FloatArray]:
    k = len(plan.settings.arms)
    out = []
    for reply in replies:
        node = reply.metadata.src_node_id
        name = plan.node_names.get(node, f"flower-node-{node}")
        if reply.has_error():  # absent: the aggregate tops its noise up
            plan.absent[name] = str(reply.error.reason)
            log.warning("node %s did not answer the offer-rates task: %s", name, reply.error)
            continue
        try:
            out.append(rates_in(reply, k))
        except ConfigError as exc:
            plan.refused[name] = str(exc)
            log.warning("node %s: reply refused, counted as absent: %s", name, exc)
    return out
