"""``RetailWorld.revenue_truth`` is what ``RetailWorld.shop`` actually spends: checked by
shopping many visits under every arm with common random numbers."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.sim import RetailWorld, SimConfig

CAP = 150.0


@pytest.mark.parametrize("cap", [None, CAP])
def test_revenue_truth_matches_shopping(cap: float | None) -> None:
    world = RetailWorld(SimConfig(customers=1500, nodes=2, seed=3))
    arms: list[str | None] = [None, *(o.id for o in world.offers)]
    spent: list[list[float]] = []
    for day in range(25):
        for visit in world.visits(day):
            row = []
            for arm in arms:  # the same draws for every arm: differences have little noise
                events = world.shop(visit, arm, np.random.default_rng([day, visit.seq]))
                amount = sum(e.amount or 0.0 for e in events if e.type == "purchase")
                row.append(min(amount, cap) if cap is not None else amount)
            spent.append(row)
    values = np.array(spent)
    truth = world.revenue_truth(cap)
    se = values.std(axis=0) / np.sqrt(len(values))
    assert abs(values[:, 0].mean() - truth["control_revenue"]) < 4 * se[0]
    for k, offer in enumerate(world.offers, start=1):
        diff = values[:, k] - values[:, 0]
        expected = truth["offers"][offer.id]
        assert abs(diff.mean() - expected["uplift"]) < 4 * diff.std() / np.sqrt(len(diff))
        assert abs(values[:, k].mean() - expected["revenue"]) < 4 * se[k]
    if cap is not None:  # clipping matters at this cap, so the check above has teeth
        assert world.revenue_truth(None)["control_revenue"] > truth["control_revenue"] * 1.01
