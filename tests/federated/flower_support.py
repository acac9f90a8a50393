"""Flower apps without Flower processes: the task identity a Flower process sets before
an app runs, a Grid stand-in that hands each message to a ClientApp in this process, and
a node's journal written by its own edge Runtime (for the edge's ClientApp)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def task_identity(run_id: int = 1) -> Iterator[None]:
    """Messages read their run id from the task identity; set it as a Flower process does."""
    from flwr.supercore.task_identity import TaskIdentity

    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = 1, run_id, 0
    try:
        yield
    finally:
        TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


class AppGrid:
    """Delivers every message to ``app`` as node ``node_id`` with that node's config; an
    exception in the app becomes an error reply, as Flower's ClientApp runner makes it."""

    def __init__(self, app: Any, node_configs: dict[int, dict[str, Any]], run_id: int = 1):
        self.app, self.node_configs, self.run_id = app, node_configs, run_id
        self.sent: list[Any] = []
        self.replies: list[Any] = []

    def get_node_ids(self) -> Iterable[int]:
        return list(self.node_configs)

    def send_and_receive(self, messages: Iterable[Any], **_: Any) -> list[Any]:
        import flwr.app

        out = []
        for message in messages:
            self.sent.append(message)
            node = message.metadata.dst_node_id
            ctx = flwr.app.Context(self.run_id, node, self.node_configs[node],
                                   flwr.app.RecordDict(), {})  # fmt: skip
            try:
                reply = self.app(message, ctx)
            except Exception as exc:
                reply = flwr.app.Message(flwr.app.Error(0, str(exc)), reply_to=message)
            out.append(reply)
        self.replies.extend(out)
        return out


def context(run_config: dict[str, Any], run_id: int = 1) -> Any:
    """The ServerApp's context of run ``run_id`` with ``run_config``."""
    import flwr.app

    return flwr.app.Context(run_id, 0, {}, flwr.app.RecordDict(), run_config)


DAY = 86400.0
T0 = 20_460 * DAY  # 2026-01-05 00:00 UTC


def node_journal(state_dir: Path, days: range, training: bool, users: int = 40) -> int:
    """A node's journal written by its own Runtime: each day every user views, and user u
    buys on day d when (u + d) % 3 == 0; ``training`` is the users' training consent.
    Returns the number of events."""
    from edgemark.edge import Runtime
    from edgemark.events import Event

    consent = {"consent_personalization": True, "consent_measurement": True,
               "consent_training": training}  # fmt: skip
    events = []
    for d in days:
        for u in range(users):
            ts = T0 + d * DAY + u * 60.0
            events.append(Event(f"v{d}-{u}", ts, f"c{u}", "view", "store", **consent))
            if (u + d) % 3 == 0:
                events.append(Event(f"p{d}-{u}", ts + 30, f"c{u}", "purchase", "store",
                                    amount=10.0, **consent))  # fmt: skip
    runtime = Runtime(state_dir, state_dir.name, trust=None, maintenance_interval_s=None,
                      event_retention_days=30)  # fmt: skip
    accepted = runtime.observe_many(events).accepted
    runtime.close()
    assert accepted == len(events)
    return accepted


# -- nodes with randomised decisions (for offer-rates releases) ---------------------------

ARMS = ["none", "pct10", "bogo", "freeship"]
OFFERS = [{"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 1.0},
          {"id": "bogo", "name": "Buy one get one", "discount": 0.5, "cost": 3.0},
          {"id": "freeship", "name": "Free delivery", "discount": 0.0, "cost": 2.0}]  # fmt: skip
# Each store's true conversion rate per arm of ARMS: stores differ. CENTER is a public
# guess near them (e.g. the fleet rates of the hub's DP reports).
TRUE_RATES = [(0.20, 0.35, 0.50, 0.30), (0.15, 0.30, 0.45, 0.25), (0.25, 0.40, 0.40, 0.35)]
CENTER = (0.2, 0.35, 0.45, 0.3)
# Every decision is randomised (a quarter holdout, the rest explore), and an outcome is
# final one hour after its decision.
POLICY: dict[str, Any] = {
    "experiment": "exp-fl", "salt": "salt-fl", "holdout_share": 0.25, "explore_share": 0.75,
    "lookback_hours": 1.0, "epsilon_per_report": 3.0, "max_contributions_per_user": 1,
    "revenue_cap": 100.0, "prior_alpha": 1.0, "prior_beta": 1.0,
}  # fmt: skip


def signed_bundle(root: Path, version: str = "v1", **policy: Any) -> tuple[Path, Any]:
    """A signed bundle over the default spec (a logistic model, no LightGBM needed) with
    ``POLICY`` updated by ``policy``, and the trust store that verifies it."""
    from edgemark.bundle import TrustStore, generate_keypair, load_signing_key
    from edgemark.features import DEFAULT_SPEC
    from edgemark.federated import bundle_federated_model

    keys = root / "keys"
    if not (keys / "k1.key").exists():
        generate_keypair(keys, "k1")
    bundle = bundle_federated_model(
        [0.0] * (len(DEFAULT_SPEC.names) + 1), root / f"bundle-{version}",
        feature_names=DEFAULT_SPEC.names, feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        version=version, offers=OFFERS, policy={**POLICY, **policy}, training={},
        signing_key=load_signing_key(keys / "k1.key"), key_id="k1",
    )  # fmt: skip
    return bundle, TrustStore.from_directory(keys)


def randomised_journal(
    state_dir: Path, bundle: Path, trust: Any, conversion: dict[str, float], users: int = 160,
    seed: int = 0, start: float = T0,
) -> None:  # fmt: skip
    """A node's state written by its own Runtime serving ``bundle``: each user views, gets a
    randomised decision and buys within the lookback with probability ``conversion[arm]``
    (arm: the offer shown, or "none"); every fifth user gave no training consent. Users
    ``r0``, ``r1``, ... come a minute apart from ``start``; a late event ends the run two
    hours on, so every outcome is final."""
    from edgemark.edge import DecisionRequest, Runtime
    from edgemark.events import Event

    # A fixed pseudonym key (else a random one per state dir), so that the users' layers,
    # and so every node's exact rates, are the same in every test run.
    runtime = Runtime(state_dir, state_dir.name, trust=trust, maintenance_interval_s=None,
                      event_retention_days=30, key=bytes([seed + 1]) * 32)  # fmt: skip
    runtime.load(bundle)
    rng = random.Random(seed)
    for u in range(users):
        ts, user = start + u * 60.0, f"r{u}"
        consent = {"consent_personalization": True, "consent_measurement": True,
                   "consent_training": u % 5 != 0}  # fmt: skip
        runtime.observe(Event(f"rv{u}", ts, user, "view", "store", **consent))
        decision = runtime.decide(DecisionRequest(user, ts + 1.0))
        if rng.random() < conversion[decision.offer or "none"]:
            runtime.observe(Event(f"rp{u}", ts + 30.0, user, "purchase", "store", amount=20.0,
                                  **consent))  # fmt: skip
    end = start + users * 60.0 + 2 * 3600.0
    runtime.observe(Event("late", end, "late", "view", "store", consent_measurement=True))
    runtime.close()


def exact_rates(state_dir: Path, arms: list[str], experiment: str = "exp-fl") -> Any:
    """The node's per-arm rates before clipping and noise, counted as the node counts them
    (``randomised_outcomes`` over the users whose latest event carries training consent)."""
    from edgemark.edge._federated import FederatedLearner, randomised_outcomes
    from edgemark.federated import node_rates

    learner = FederatedLearner(state_dir)
    learner.track_consent()
    exposures, conversions = randomised_outcomes(
        state_dir / "edge.db", arms, learner.training_users(), experiment
    )
    return node_rates(exposures, conversions, arms)
