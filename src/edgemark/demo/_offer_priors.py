"""The demo's offer-priors round, run before v2 is built: the hub opens an ``offer_rates``
task, each node answers during its sync with its conversion rate per arm (from randomised
traffic of training-consented users, clipped and noised: K floats), the hub averages them
into fleet priors (``federated_offer_priors``) and records the release in its privacy
ledger; v2's policy then carries them (``policy["priors"]``).

Nodes send their rates relative to a public centre, the fleet's per-arm rates from the
DP reports the hub already holds (reusing a DP release costs no privacy), so only each
store's small difference is clipped and noised. The simulator side knows every decision it
asked for, so it also computes the exact rates the nodes measured before noise: the report
shows the noised fleet rates next to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgemark.features import DEFAULT_SPEC
from edgemark.federated import (
    OfferPriors,
    calibrate_noise,
    federated_offer_priors,
    node_rates,
    rates_noise_std,
)
from edgemark.hub import close_federated_task, open_federated_task, record_federated_round

RUN_ID = "demo-offer-priors"
# A store's rates (no offer and three offers, ~0.13-0.24 in the demo's world) differ from
# the fleet's by a few points per arm (store mix, and sampling over a few hundred
# randomised decisions): an L2 difference of ~0.05-0.1. A clip of 0.15 cuts (almost)
# nothing and puts 13x less noise on the rates than the bound of any vector in [0, 1]^4
# (norm 2) would, 3x less than clipping the uncentred rates (norm up to ~0.45) at 0.5.
CLIP_NORM = 0.15
STRENGTH = 20.0  # at most 20 pseudo-counts per arm, however small the noise


@dataclass
class OfferPriorsRound:
    """One DP release of the fleet's per-arm conversion rates over the hub's task API."""

    hub_url: str
    token: str
    nodes: list[str]  # every enrolled node: node-level DP charges each of them
    arms: list[str]  # "none" then the offer ids
    experiment: str
    epsilon: float
    lookback_s: float
    base_variance: float  # the edge's own prior variance of an offer's bias
    noise_multiplier: float = field(init=False)
    priors: OfferPriors | None = None
    answered: list[str] = field(default_factory=list)
    cutoffs: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None
    center: list[float] = field(default_factory=list)
    _task: int | None = None

    def __post_init__(self) -> None:
        self.noise_multiplier = calibrate_noise(self.epsilon, 1, 1.0)

    def open(self, watermarks: Mapping[str, float], reports: Sequence[Mapping[str, Any]]) -> None:
        """Open the task, centred on the fleet rates of the hub's DP ``reports``;
        ``watermarks`` are the nodes' latest record times, from which each node counts the
        decisions at least one lookback older (outcome final)."""
        self.center = report_rates(reports, self.experiment, self.arms)
        share = rates_noise_std(CLIP_NORM, self.noise_multiplier, len(self.nodes))
        settings = {"kind": "offer_rates", "clip_norm": CLIP_NORM, "noise_std": share,
                    "offers": self.arms, "experiment": self.experiment}  # fmt: skip
        task = {"run_id": RUN_ID, "round": 1, "params": self.center,
                "settings": settings}  # fmt: skip
        self._task = open_federated_task(self.hub_url, self.token, task)
        self.cutoffs = {n: w - self.lookback_s for n, w in watermarks.items()}

    def close(self) -> dict[str, Any] | None:
        """Collect the answers, aggregate, record the release; the bundle policy's
        ``priors`` (None, with ``skipped`` saying why, when no node answered)."""
        if self._task is None:
            return None
        answer = close_federated_task(self.hub_url, self.token, self._task)
        self._task = None
        self.answered = sorted(answer["nodes"])
        if not answer["updates"]:
            self.skipped = "no node answered the offer-rates task; v2 keeps the default prior"
            return None
        self.priors = federated_offer_priors(
            [np.asarray(u, dtype=np.float64) for u in answer["updates"]], self.arms,
            clip_norm=CLIP_NORM, noise_multiplier=self.noise_multiplier, strength=STRENGTH,
            expected=len(self.nodes), center=self.center,
        )  # fmt: skip
        record_federated_round(self.hub_url, self.token, {
            "run_id": RUN_ID, "round": 1, "epsilon_cumulative": self.priors.epsilon,
            "delta": self.priors.delta, "clients": len(self.answered), "auc": None,
            "nodes": sorted(self.nodes),
        })  # fmt: skip
        return self.policy_priors()

    def policy_priors(self) -> dict[str, Any] | None:
        """The priors for the edge's contextual policy (context of the default spec)."""
        if self.priors is None:
            return None
        return self.priors.policy_priors(len(DEFAULT_SPEC.names), base_variance=self.base_variance)

    def summary(self, decisions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``summary.json``'s ``offer_priors``: the release next to the exact rates."""
        out: dict[str, Any] = {
            "run_id": RUN_ID, "arms": self.arms, "epsilon_budget": self.epsilon,
            "clip_norm": CLIP_NORM, "noise_multiplier": self.noise_multiplier,
            "strength_cap": STRENGTH, "base_variance": self.base_variance,
            "clients": len(self.answered), "skipped": self.skipped,
            "center": dict(zip(self.arms, self.center, strict=True)),
        }  # fmt: skip
        exact = exact_node_rates(decisions, self.arms, self.cutoffs, self.answered, self.center)
        out["exact_rates"] = (
            {a: float(r) for a, r in zip(self.arms, np.mean(exact, axis=0), strict=True)}
            if exact else {}
        )  # fmt: skip
        # Nodes whose exact difference from the centre the clip cut (biasing the release).
        out["clipped_nodes"] = sum(
            float(np.linalg.norm(r - np.asarray(self.center))) > CLIP_NORM for r in exact
        )
        if self.priors is None:
            return out
        policy = self.policy_priors() or {}
        return {
            **out,
            "epsilon": self.priors.epsilon,
            "delta": self.priors.delta,
            "noise_std": self.priors.noise_std,
            "rates": self.priors.rates,
            "strength": self.priors.strength,
            "bias": {
                o: {"mean": p["mean"][0], "variance": p["variance"][0]} for o, p in policy.items()
            },
        }


def report_rates(
    reports: Sequence[Mapping[str, Any]], experiment: str, arms: Sequence[str]
) -> list[float]:
    """Per-arm conversion rates of ``experiment`` from DP report rows (arm "holdout" is
    "none"), pooled over nodes and days, kept in [0.01, 0.99]; 0.5 for an arm with none."""
    exposures: dict[str, float] = {}
    conversions: dict[str, float] = {}
    for row in reports:
        if row["experiment"] != experiment:
            continue
        arm = "none" if row["arm"] == "holdout" else str(row["arm"])
        exposures[arm] = exposures.get(arm, 0.0) + float(row["exposures"])
        conversions[arm] = conversions.get(arm, 0.0) + float(row["conversions"])
    rates = node_rates(exposures, conversions, arms)  # noised counts: clipped to [0, 1]
    return [float(r) for r in np.clip(rates, 0.01, 0.99)]


def exact_node_rates(
    decisions: Sequence[Mapping[str, Any]],
    arms: Sequence[str],
    cutoffs: Mapping[str, float],
    nodes: Sequence[str],
    center: Sequence[float] | None = None,
) -> list[np.ndarray]:
    """Each of ``nodes``' exact per-arm rates, counted as the node counts it: holdout
    (arm "none") and explore decisions that showed the drawn offer, of users with
    training consent, made at or before the node's cutoff; a decision
    converts when its visit ended in a purchase (in the demo every purchase follows its
    visit's decision within the lookback, and no customer visits a store twice a day)."""
    per_node = []
    for node in nodes:
        exposures: dict[str, int] = {}
        conversions: dict[str, int] = {}
        for d in decisions:
            if d["node"] != node or not d["training"] or d["ts"] > cutoffs.get(node, -np.inf):
                continue
            arm = _randomised_arm(d)
            if arm is not None:
                exposures[arm] = exposures.get(arm, 0) + 1
                conversions[arm] = conversions.get(arm, 0) + int(d["bought"])
        per_node.append(node_rates(exposures, conversions, arms, center=center))
    return per_node


def _randomised_arm(decision: Mapping[str, Any]) -> str | None:
    if decision["layer"] == "holdout":
        return "none"
    if decision["layer"] == "explore" and decision["offer"] == decision["arm"]:
        return str(decision["offer"])
    return None
