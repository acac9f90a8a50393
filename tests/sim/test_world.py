from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgemark.errors import SimError
from edgemark.events import validate_event
from edgemark.sim import RetailWorld, SimConfig


@pytest.fixture(scope="module")
def world() -> RetailWorld:
    return RetailWorld(SimConfig(customers=4000, seed=3))


def test_same_seed_same_events_and_other_seed_differs() -> None:
    small = SimConfig(customers=200, days=3, seed=5)
    a = RetailWorld(small).history(3)
    b = RetailWorld(small).history(3)
    c = RetailWorld(SimConfig(customers=200, days=3, seed=6)).history(3)
    assert a == b
    assert len(a) > 100
    assert [e.to_dict() for e in a] != [e.to_dict() for e in c]


def test_a_day_does_not_depend_on_which_days_came_before(world: RetailWorld) -> None:
    fresh = RetailWorld(world.config)
    assert fresh.visits(9) == world.visits(9)
    world.visits(1), world.visits(2)
    assert fresh.visits(9) == world.visits(9)
    assert fresh.history(2)[-5:] == world.history(2)[-5:]


def test_each_customer_visits_at_most_once_a_day_and_about_30_percent_do(
    world: RetailWorld,
) -> None:
    shares = []
    for day in range(10):
        visits = world.visits(day)
        ids = [v.customer_id for v in visits]
        assert len(ids) == len(set(ids))
        assert [v.seq for v in visits] == list(range(len(visits)))
        assert all(
            v.ts == pytest.approx(world.config.start + day * 86400, abs=86400) for v in visits
        )
        assert all(int(v.ts // 86400) == int(world.config.start // 86400) + day for v in visits)
        shares.append(len(visits) / world.config.customers)
    assert 0.25 <= float(np.mean(shares)) <= 0.35


def test_stores_have_clearly_different_segment_mixes(world: RetailWorld) -> None:
    mixes = [np.array(list(world.node_mix(node).values())) for node in world.nodes]
    distances = [0.5 * np.abs(a - b).sum() for a, b in itertools.combinations(mixes, 2)]
    assert max(distances) > 0.2  # total variation: a fifth of customers differ in kind
    assert all(m.sum() == pytest.approx(1.0) for m in mixes)
    # and the visits each store actually receives reflect the difference
    seen = {node: [] for node in world.nodes}  # type: dict[str, list[str]]
    for day in range(5):
        for v in world.visits(day):
            seen[v.node].append(world.segment_of(v.customer_index))
    bargain = [seen[n].count("bargain") / len(seen[n]) for n in world.nodes]
    assert max(bargain) - min(bargain) > 0.1


def test_segments_differ_in_base_purchase_probability(world: RetailWorld) -> None:
    base: dict[str, list[float]] = {s: [] for s in world.segments}
    for i in range(world.config.customers):
        base[world.segment_of(i)].append(world.purchase_probability(i, None))
    means = {s: float(np.mean(v)) for s, v in base.items()}
    assert 0.03 < min(means.values()) < 0.1 and 0.2 < max(means.values()) < 0.3


def test_consent_shares_match_the_config_and_ride_on_every_event() -> None:
    config = SimConfig(customers=4000, share_no_personalization=0.3, share_no_training=0.05)
    world = RetailWorld(config)
    flags = np.array([world.consents(i) for i in range(config.customers)])
    no = 1.0 - flags.mean(axis=0)
    assert no == pytest.approx([0.3, 0.1, 0.05], abs=0.025)  # ~4 standard errors
    for event in world.history(1):
        index = int(event.user.removeprefix("cust-"))
        carried = (
            event.consent_personalization,
            event.consent_measurement,
            event.consent_training,
        )
        assert carried == world.consents(index)


def test_history_events_are_valid_unique_and_coherent() -> None:
    world = RetailWorld(SimConfig(customers=500, seed=2))
    events = world.history(4)
    assert len({e.event_id for e in events}) == len(events)
    for event in events:
        assert validate_event(event.to_dict()) == event
    by_visit: dict[str, list[str]] = {}
    for e in events:
        by_visit.setdefault(e.event_id.rsplit("-", 1)[0], []).append(e.type)
    for types in by_visit.values():
        assert "view" in types
        if "redeem" in types:
            assert "purchase" in types and "exposure" in types
        if "purchase" in types:
            assert "add_to_cart" in types
    exposed = sum("exposure" in t for t in by_visit.values())
    assert 0.4 < exposed / len(by_visit) < 0.6
    amounts = [e.amount for e in events if e.type == "purchase"]
    assert all(a is not None and a >= 0 for a in amounts)


def test_unknown_offer_and_node_say_what_is_known(world: RetailWorld) -> None:
    with pytest.raises(SimError, match="pct10"):
        world.purchase_probability(0, "nope")
    with pytest.raises(SimError, match="store-1"):
        world.truth_for_node("store-99")
