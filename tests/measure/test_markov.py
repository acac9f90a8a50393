"""Markov removal effects from the exact linear solve: hand-computed cases, an independent
Monte-Carlo walk of the same fitted chain, recovery of the simulator's chain, and agreement
with the ChannelAttribution package where it is installed."""

from __future__ import annotations

import importlib.util
import itertools
from collections import defaultdict

import numpy as np
import pytest

from edgemark.errors import MeasureError
from edgemark.measure._markov import markov_attribution
from edgemark.measure._paths import Paths
from tests.measure.attribution_data import simulated_paths

SMALL = Paths.from_strings(
    ["a > b > c", "a > a > b", "c", "b > c > a", "a"], [3, 1, 2, 0, 1], [2, 3, 1, 4, 5]
)


def test_two_channel_chain_by_hand() -> None:
    # start -> a 5/6, b 1/6; a -> b 3/5, null 2/5; b -> conversion 3/4, null 1/4
    paths = Paths.from_strings(["a > b", "a", "b"], [2, 0, 1], [1, 2, 0])
    result = markov_attribution(paths)
    p_full = 5 / 6 * 3 / 5 * 3 / 4 + 1 / 6 * 3 / 4  # = 1/2, the observed rate
    without_a = 1 / 6 * 3 / 4
    assert result.conversion_probability == pytest.approx(p_full)
    assert result.removal_effects == pytest.approx({"a": 0.75, "b": 1.0})
    assert 1 - without_a / p_full == pytest.approx(0.75)
    assert result.conversions == pytest.approx({"a": 9 / 7, "b": 12 / 7})


@pytest.mark.parametrize("order", [1, 2, 3])
def test_the_fitted_chain_reproduces_the_observed_conversion_rate(order: int) -> None:
    result = markov_attribution(SMALL, order)
    assert result.conversion_probability == pytest.approx(7 / 22, rel=1e-12)
    assert sum(result.conversions.values()) == pytest.approx(7.0)


def _states(path: list[str], order: int) -> list[tuple[str, ...]]:
    if len(path) <= order:
        return [tuple(path)]
    return [tuple(path[i : i + order]) for i in range(len(path) - order + 1)]


def _monte_carlo(paths: list[tuple[list[str], int, int]], order: int, walks: int, seed: int):  # type: ignore[no-untyped-def]
    """Walk the fitted chain: an implementation independent of the linear solve."""
    counts: dict[object, dict[object, float]] = defaultdict(lambda: defaultdict(float))
    for path, conv, null in paths:
        states = ["start", *_states(path, order)]
        for a, b in itertools.pairwise(states):
            if a != b:
                counts[a][b] += conv + null
        counts[states[-1]]["conv"] += conv
        counts[states[-1]]["null"] += null
    table = {s: (list(n), np.cumsum(list(n.values())) / sum(n.values())) for s, n in counts.items()}
    rng = np.random.default_rng(seed)
    channels = sorted({c for path, _, _ in paths for c in path})

    def rate(removed: str | None) -> float:
        hits = 0
        for u in rng.random((walks, 200)):
            state: object = "start"
            for x in u:
                names, cdf = table[state]
                state = names[int(np.searchsorted(cdf, x, side="right"))]
                if state in ("conv", "null") or (removed is not None and removed in state):
                    break
            hits += state == "conv"
        return hits / walks

    full = rate(None)
    return {c: 1 - rate(c) / full for c in channels}, full


@pytest.mark.parametrize("order", [1, 2])
def test_removal_effects_agree_with_a_monte_carlo_walk(order: int) -> None:
    raw = [
        ("a > b > c", 30, 20),
        ("a > a > b", 10, 30),
        ("c", 20, 10),
        ("b > c > a", 5, 40),
        ("a", 10, 50),
        ("c > b", 15, 5),
    ]
    paths = Paths.from_strings([r[0] for r in raw], [r[1] for r in raw], [r[2] for r in raw])
    exact = markov_attribution(paths, order)
    parsed = [([c.strip() for c in p.split(">")], conv, null) for p, conv, null in raw]
    simulated, full = _monte_carlo(parsed, order, 20_000, seed=order)
    assert full == pytest.approx(exact.conversion_probability, abs=0.012)
    for channel, effect in exact.removal_effects.items():
        # 20k walks per rate: the effect's Monte-Carlo error is about 0.01
        assert simulated[channel] == pytest.approx(effect, abs=0.035), channel


def test_order_one_recovers_the_simulated_chain() -> None:
    paths, world = simulated_paths(100_000)
    result = markov_attribution(paths, 1)
    truth = world.true_removal_effects()
    assert result.conversion_probability == pytest.approx(
        world.true_conversion_probability(), abs=0.004
    )
    for channel, effect in truth.items():
        assert result.removal_effects[channel] == pytest.approx(effect, abs=0.01), channel
    assert result.value is not None
    assert sum(result.value.values()) == pytest.approx(float(paths.values.sum()))  # type: ignore[union-attr]


@pytest.mark.skipif(
    importlib.util.find_spec("ChannelAttribution") is None,
    reason="ChannelAttribution (GPL-3, test-only, builds from source) is not installed",
)
@pytest.mark.parametrize("order", [1, 2, 3])
def test_removal_effects_agree_with_channelattribution(order: int) -> None:
    import ChannelAttribution as ca
    import pandas as pd

    paths, world = simulated_paths(20_000)
    rows = world.paths_table(20_000, seed=1)
    frame = pd.DataFrame(rows)
    theirs = ca.markov_model(
        frame,
        "path",
        "total_conversions",
        var_null="total_null",
        order=order,
        out_more=True,
        verbose=False,
        flg_pro=False,
        max_step=1000,
        nsim_start=1e6,
        seed=order,
    )
    ours = markov_attribution(paths, order).removal_effects
    effects = theirs["removal_effects"]
    assert set(effects.channel_name) == set(ours)
    for name, effect in zip(effects.channel_name, effects.removal_effect, strict=True):
        # theirs is a simulation of the same chain (to within ~0.005); ours is exact
        assert ours[name] == pytest.approx(effect, abs=0.012), name


def test_order_is_checked_and_conversions_needed() -> None:
    with pytest.raises(MeasureError, match="order must be 1, 2 or 3"):
        markov_attribution(SMALL, 4)
    with pytest.raises(MeasureError, match="no conversions"):
        markov_attribution(Paths.from_strings(["a"], [0], [3]))
