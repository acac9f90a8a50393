"""The truth is what an experiment over visits measures: checked against Monte-Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.sim import OfferSpec, RetailWorld, SimConfig
from edgemark.sim._truth import truth_summary


@pytest.fixture(scope="module")
def world() -> RetailWorld:
    return RetailWorld(SimConfig(customers=4000, seed=11))


def test_truth_is_visit_weighted_not_customer_weighted() -> None:
    # Customer 0 visits 9x as often as customer 1; an offer helps only customer 1.
    probs = np.array([[0.2, 0.2], [0.1, 0.5]])
    weights = np.array([0.9, 0.1])
    offer = (OfferSpec("o", "O", 0.0, 0.0),)
    truth = truth_summary(probs, weights, np.array([0, 1]), ("a", "b"), offer)
    assert truth["offers"]["o"]["uplift"] == pytest.approx(0.1 * 0.4)
    assert truth["control_rate"] == pytest.approx(0.9 * 0.2 + 0.1 * 0.1)
    assert truth["offers"]["o"]["by_segment"] == {"a": 0.0, "b": pytest.approx(0.4)}
    assert truth["visit_shares"] == {"a": pytest.approx(0.9), "b": pytest.approx(0.1)}


def test_overall_uplifts_are_distinguishable_with_one_clear_winner(world: RetailWorld) -> None:
    uplift = {k: v["uplift"] for k, v in world.truth()["offers"].items()}
    assert all(0.005 < u < 0.1 for u in uplift.values())
    assert world.truth()["best_offer"] == "pct10"
    assert uplift["pct10"] - max(uplift["bogo"], uplift["freeship"]) > 0.01


def test_truth_matches_monte_carlo_over_visits(world: RetailWorld) -> None:
    """Random offers on real visits; outcomes with and without the offer share their
    random numbers (shop decides the purchase by its first draw), which makes the check
    sharp: a standard error of ~0.002 on each uplift."""
    offers = [o.id for o in world.offers]
    diffs: dict[str, list[int]] = {o: [] for o in offers}
    control: list[int] = []
    by_seg: dict[tuple[str, str], list[int]] = {}
    picker = np.random.default_rng(0)
    for day in range(40):
        for visit in world.visits(day):
            offer = offers[int(picker.integers(len(offers)))]
            seed = (day, visit.seq)
            base = _bought(world.shop(visit, None, np.random.default_rng(seed)))
            treated = _bought(world.shop(visit, offer, np.random.default_rng(seed)))
            diffs[offer].append(treated - base)
            control.append(base)
            by_seg.setdefault((offer, world.segment_of(visit.customer_index)), []).append(
                treated - base
            )
    truth = world.truth()
    # Unweighted (per customer) control rate would be ~0.13 here, 10+ SE away.
    assert np.mean(control) == pytest.approx(truth["control_rate"], abs=4 * _se(control))
    for offer in offers:
        measured, se = float(np.mean(diffs[offer])), _se(diffs[offer])
        assert se < 0.003
        assert measured == pytest.approx(truth["offers"][offer]["uplift"], abs=4 * se)
    for (offer, seg), values in by_seg.items():
        expected = truth["offers"][offer]["by_segment"][seg]
        assert np.mean(values) == pytest.approx(expected, abs=4 * _se(values) + 1e-3)


def test_node_truths_add_up_to_the_overall_truth(world: RetailWorld) -> None:
    overall = world.truth()
    per_node = [world.truth_for_node(node) for node in world.nodes]
    visits = [t["expected_visits_per_day"] for t in per_node]
    assert sum(visits) == pytest.approx(overall["expected_visits_per_day"])
    for offer in overall["offers"]:
        pooled = sum(
            v * t["offers"][offer]["uplift"] for v, t in zip(visits, per_node, strict=True)
        )
        assert pooled / sum(visits) == pytest.approx(overall["offers"][offer]["uplift"])
    observed = np.mean([[v.node for v in world.visits(d)].count("store-1") for d in range(20)])
    assert observed == pytest.approx(visits[0], rel=0.05)


def _bought(events: list[object]) -> int:
    return int(any(getattr(e, "type", None) == "purchase" for e in events))


def _se(values: list[int]) -> float:
    return float(np.std(values) / np.sqrt(len(values)))
