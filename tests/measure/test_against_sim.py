"""Uplift measured from noised per-day report rows of a simulated randomised experiment
lands on the simulator's ground truth."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from edgemark.measure import UpliftEstimate, uplift_from_reports
from edgemark.privacy import laplace_count, noise_scale
from edgemark.sim import RetailWorld, SimConfig

EPSILON = 0.5  # per count: b = 2 on each of 4 nodes x 28 days of rows per arm


def _reports(world: RetailWorld, days: int, epsilon: float | None) -> list[dict[str, Any]]:
    arms = ["holdout", *(o.id for o in world.offers)]  # holdout 25%, offers 25% each
    counts: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0, 0])
    for day in range(days):
        rng = np.random.default_rng([99, day])
        for visit in world.visits(day):
            arm = arms[int(rng.integers(len(arms)))]
            events = world.shop(visit, None if arm == "holdout" else arm, rng)
            cell = counts[(visit.node, day, arm)]
            cell[0] += 1
            cell[1] += any(e.type == "purchase" for e in events)
    rows = []
    for (node, day, arm), (exposures, conversions) in sorted(counts.items()):
        row: dict[str, Any] = {"node": node, "day": day, "experiment": "sim", "arm": arm}
        if epsilon is None:
            row.update(exposures=exposures, conversions=conversions)
        else:
            row.update(
                exposures=laplace_count(exposures, epsilon),
                conversions=laplace_count(conversions, epsilon),
                count_noise_scale=noise_scale(epsilon, 1),
                epsilon=2 * epsilon,
            )
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def world() -> RetailWorld:
    return RetailWorld(SimConfig(customers=4000, nodes=4, seed=7))


@pytest.mark.parametrize("epsilon", [None, EPSILON])
def test_estimates_land_on_the_true_uplift(world: RetailWorld, epsilon: float | None) -> None:
    truth = world.truth()["offers"]
    estimates = {e.arm: e for e in uplift_from_reports(_reports(world, 28, epsilon))}
    assert set(estimates) == set(truth)
    for arm, est in estimates.items():
        expected = truth[arm]["uplift"]
        assert abs(est.uplift - expected) < 3.5 * est.std_error, (arm, est, expected)
        assert est.std_error < (0.007 if epsilon is None else 0.01)  # noise doubles the variance
    if epsilon is None:  # deterministic: the draws are seeded (OpenDP noise is not)
        errors = [abs(e.uplift - truth[a]["uplift"]) for a, e in estimates.items()]
        assert max(errors) < 0.006
    assert max(estimates.values(), key=_uplift).arm == world.truth()["best_offer"]


def _uplift(est: UpliftEstimate) -> float:
    return est.uplift
