"""Shapley values (exact and sampled) against their closed form, and the rule-based models
on hand-computed journeys; every model shares out exactly the total conversions."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.errors import MeasureError
from edgemark.measure._attribution import RULES, attribute, rule_attribution
from edgemark.measure._paths import Paths
from edgemark.measure._shapley import shapley_attribution
from tests.measure.attribution_data import simulated_paths


def _random_paths(
    channels: int, rows: int, seed: int
) -> tuple[Paths, list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = [f"ch{i:02d}" for i in range(channels)]
    strings = [" > ".join(rng.choice(names, size=int(rng.integers(1, 6)))) for _ in range(rows)]
    conv = rng.integers(0, 6, rows).astype(float)
    value = conv * rng.uniform(10, 100, rows)
    return Paths.from_strings(strings, conv, rng.integers(0, 9, rows), value), strings, conv, value


def _closed_form(strings: list[str], weights: np.ndarray) -> dict[str, float]:
    """Worth = conversions of journeys within the coalition: each journey's conversions are
    shared equally among its distinct channels."""
    out: dict[str, float] = {}
    for path, w in zip(strings, weights, strict=True):
        distinct = {c.strip() for c in path.split(">")}
        for c in distinct:
            out[c] = out.get(c, 0.0) + w / len(distinct)
    return out


def test_exact_shapley_equals_the_closed_form_and_sums_to_the_total() -> None:
    paths, strings, conv, value = _random_paths(9, 400, seed=2)
    result = shapley_attribution(paths)
    assert result.exact and set(result.std_error.values()) == {0.0}
    assert result.conversions == pytest.approx(_closed_form(strings, conv), rel=1e-9)
    assert result.value == pytest.approx(_closed_form(strings, value), rel=1e-9)
    assert sum(result.conversions.values()) == pytest.approx(conv.sum(), rel=1e-12)


def test_sampled_shapley_beyond_twelve_channels_is_within_its_stated_error() -> None:
    paths, strings, conv, _ = _random_paths(15, 3000, seed=4)
    result = shapley_attribution(paths, permutations=800, seed=1)
    truth = _closed_form(strings, conv)
    assert not result.exact and result.permutations == 800
    z = [(result.conversions[c] - truth[c]) / result.std_error[c] for c in truth]
    assert max(abs(x) for x in z) < 4.0
    assert 0.3 < np.std(z) < 2.0  # the stated errors are the right size, not just wide
    # each sampled order shares out all conversions, so the mean does too
    assert sum(result.conversions.values()) == pytest.approx(conv.sum(), rel=1e-12)


def test_rules_by_hand() -> None:
    paths = Paths.from_strings(["a > b > c > b", "c", "a > b"], [10, 1, 4], [5, 5, 5])
    assert rule_attribution(paths, "first_touch") == {"a": 14.0, "b": 0.0, "c": 1.0}
    assert rule_attribution(paths, "last_touch") == {"a": 0.0, "b": 14.0, "c": 1.0}
    assert rule_attribution(paths, "linear") == pytest.approx({"a": 4.5, "b": 7.0, "c": 3.5})
    assert rule_attribution(paths, "position_based") == pytest.approx(
        {"a": 6.0, "b": 7.0, "c": 2.0}  # 4 + 2 | 1 + 4 + 2 | 1 + 1
    )
    # half-life 1 touch: a b c b weigh 1/8, 1/4, 1/2, 1 (sum 15/8); 'a > b' 1/2, 1
    decay = rule_attribution(paths, "time_decay", half_life=1.0)
    assert decay == pytest.approx(
        {
            "a": 10 * (1 / 8) / (15 / 8) + 4 / 3,
            "b": 10 * (1.25 / (15 / 8)) + 8 / 3,
            "c": 10 * (1 / 2) / (15 / 8) + 1,
        }
    )


def test_every_model_shares_out_the_total_conversions_and_value() -> None:
    paths, _ = simulated_paths(20_000)
    result = attribute(paths)
    assert set(result.conversions) == {*RULES, "markov_1", "markov_2", "markov_3", "shapley"}
    for model, shares in result.conversions.items():
        assert sum(shares.values()) == pytest.approx(result.total_conversions, rel=1e-9), model
    assert result.value is not None and result.total_value is not None
    for model, shares in result.value.items():
        assert sum(shares.values()) == pytest.approx(result.total_value, rel=1e-9), model


def test_bad_paths_are_refused() -> None:
    with pytest.raises(MeasureError, match="empty channel name"):
        Paths.from_strings(["a > b", "a >  > b"], [1, 1], [0, 0])
    with pytest.raises(MeasureError, match="total_null must be a finite number >= 0"):
        Paths.from_strings(["a"], [1], [-1])
    with pytest.raises(MeasureError, match="unknown attribution rule"):
        rule_attribution(Paths.from_strings(["a"], [1], [0]), "u_shaped")
