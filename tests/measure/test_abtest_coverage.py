"""Over repeated simulator seeds, the A/B intervals cover the simulator's true effect at
close to the nominal rate, with and without CUPED, and CUPED shrinks the error without
moving the estimate: each seed is a new retail world randomised at customer level."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.measure import ab_test
from edgemark.sim import RetailWorld, SimConfig

SEEDS, CUSTOMERS, PRE_DAYS, DAYS = 200, 1500, 56, 14


def _experiment(seed: int) -> tuple[list[str], np.ndarray, np.ndarray, dict[str, float]]:
    world = RetailWorld(SimConfig(customers=CUSTOMERS, nodes=1, seed=seed))
    arms = ["holdout", *(o.id for o in world.offers)]
    visit = np.array([world.visit_probability(i) for i in range(CUSTOMERS)])
    probs = np.array(
        [
            [world.purchase_probability(i, None if a == "holdout" else a) for a in arms]
            for i in range(CUSTOMERS)
        ]
    )
    rng = np.random.default_rng(seed)
    pre = rng.binomial(rng.binomial(PRE_DAYS, visit), probs[:, 0])  # before assignment
    assigned = rng.integers(len(arms), size=CUSTOMERS)
    bought = rng.binomial(rng.binomial(DAYS, visit), probs[np.arange(CUSTOMERS), assigned])
    truth = {
        a: float(np.mean(DAYS * visit * (probs[:, k] - probs[:, 0])))
        for k, a in enumerate(arms)
        if k
    }
    return [arms[k] for k in assigned], bought.astype(float), pre.astype(float), truth


@pytest.fixture(scope="module")
def runs() -> list[tuple[dict[str, float], dict[str, object], dict[str, object]]]:
    out = []
    for seed in range(SEEDS):
        arm, y, x, truth = _experiment(seed)
        plain = {e.arm: e for e in ab_test(arm, y).effects}
        cuped = {e.arm: e for e in ab_test(arm, y, covariate=x).effects}
        out.append((truth, plain, cuped))
    return out


@pytest.mark.parametrize("kind", [1, 2])
def test_intervals_cover_the_true_effect_at_the_nominal_rate(runs: list, kind: int) -> None:
    hits = [
        est[arm].ci_low <= truth[arm] <= est[arm].ci_high
        for truth, *ests in runs
        for est in [ests[kind - 1]]
        for arm in truth
    ]
    assert len(hits) == 3 * SEEDS
    assert 0.93 <= np.mean(hits) <= 0.975  # 600 intervals: +-0.018 is 2 standard errors


def test_cuped_shrinks_the_error_and_stays_unbiased(runs: list) -> None:
    reduction = [c[a].variance_reduction for _, _, c in runs for a in c]
    assert np.mean(reduction) > 0.2  # the pre-period purchases explain a fifth or more
    se_plain = np.mean([p[a].std_error for t, p, _ in runs for a in t])
    se_cuped = np.mean([c[a].std_error for t, _, c in runs for a in t])
    assert se_cuped < 0.92 * se_plain  # honest, since the CUPED intervals keep coverage
    err_plain = np.array([p[a].effect - t[a] for t, p, _ in runs for a in t])
    err_cuped = np.array([c[a].effect - t[a] for t, _, c in runs for a in t])
    assert np.mean(err_cuped**2) < 0.9 * np.mean(err_plain**2)
    # bias below 3 standard errors of the mean error over the 600 estimates
    assert abs(err_cuped.mean()) < 3 * err_cuped.std() / np.sqrt(err_cuped.size)
