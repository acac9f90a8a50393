"""Off-policy estimates recover the true value of a target policy in the simulated retail
world, where every customer's purchase probability under every offer is known."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.measure import off_policy_value
from edgemark.sim import RetailWorld, SimConfig

ACTIONS = ("none", "pct10", "bogo", "freeship")


def _logs(seed: int, days: int = 7) -> dict[str, np.ndarray]:
    """Logged decisions of a store-dependent random policy, and the true per-row rewards."""
    world = RetailWorld(SimConfig(customers=3000, nodes=3, seed=seed))
    rng = np.random.default_rng(seed)
    logging = rng.dirichlet(np.full(len(ACTIONS), 3.0), size=3)  # one mix per store
    visits = [v for day in range(days) for v in world.visits(day)]
    store = np.array([world.nodes.index(v.node) for v in visits])
    probs = np.array(
        [
            [
                world.purchase_probability(v.customer_index, None if a == "none" else a)
                for a in ACTIONS
            ]
            for v in visits
        ]
    )
    action = np.array([rng.choice(len(ACTIONS), p=logging[s]) for s in store])
    reward = rng.binomial(1, probs[np.arange(len(visits)), action]).astype(float)
    # target: pct10 at store 0, freeship elsewhere, with 10% spread uniformly
    target = np.full((len(visits), len(ACTIONS)), 0.025)
    target[np.arange(len(visits)), np.where(store == 0, 1, 3)] += 0.9
    basket = np.array([world.visit_probability(v.customer_index) for v in visits])
    return {
        "action": np.array(ACTIONS)[action],
        "reward": reward,
        "pscore": logging[store, action],
        "target": target,
        "truth": np.array(float((target * probs).sum(axis=1).mean())),
        "features": np.column_stack([store, basket]),
    }


def test_estimates_cover_the_true_policy_value_over_seeds() -> None:
    hits = {"ips": 0, "snips": 0, "dr": 0}
    seeds = 40
    for seed in range(seeds):
        d = _logs(seed, days=3)
        res = off_policy_value(
            d["action"], d["reward"], d["pscore"], d["target"], target_actions=ACTIONS
        )
        for e in res.estimates:
            hits[e.estimator] += e.ci_low <= float(d["truth"]) <= e.ci_high
    for name, hit in hits.items():
        assert hit / seeds >= 0.85, (name, hit)  # 95% intervals, 40 seeds: >= 34 hits


def test_dr_with_a_lightgbm_reward_model_recovers_the_value_more_tightly() -> None:
    d = _logs(101)
    truth = float(d["truth"])
    res = off_policy_value(
        d["action"],
        d["reward"],
        d["pscore"],
        d["target"],
        target_actions=ACTIONS,
        reward_model="lightgbm",
        features=d["features"],
    ).by_name()
    for est in res.values():
        assert abs(est.value - truth) < 3.5 * est.std_error, est
        assert est.std_error < 0.01
    assert res["dr"].std_error < res["ips"].std_error  # the reward model takes some variance


@pytest.mark.parametrize("bad", ["zero", "sum", "action"])
def test_bad_logs_raise(bad: str) -> None:
    from edgemark.errors import MeasureError

    action, reward, pscore = ["a", "b"], [1.0, 0.0], [0.5, 0.5]
    target = np.array([[0.5, 0.5], [0.5, 0.5]])
    names = ["a", "b"]
    if bad == "zero":
        pscore = [0.5, 0.0]
    elif bad == "sum":
        target = np.array([[0.5, 0.6], [0.5, 0.5]])
    else:
        names = ["a", "c"]
    with pytest.raises(
        MeasureError,
        match={
            "zero": "propensities",
            "sum": "not a probability",
            "action": "no column in the target",
        }[bad],
    ):
        off_policy_value(action, reward, pscore, target, target_actions=names)
