"""Simulated media spend: the known response functions and the ROAS they imply."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.errors import SimError
from edgemark.sim import DEFAULT_MEDIA, MediaChannel, simulate_media
from edgemark.sim._media import geometric_adstock, logistic_saturation


def test_adstock_is_normalised_carry_over() -> None:
    out = geometric_adstock(np.array([1.0, 0.0, 0.0, 0.0]), 0.5, 3)
    assert out == pytest.approx([4 / 7, 2 / 7, 1 / 7, 0.0])
    assert geometric_adstock(np.full(20, 3.0), 0.7, 8)[-1] == pytest.approx(3.0)  # steady state


def test_saturation_is_tanh_of_half_lambda_x() -> None:
    x = np.linspace(0, 3, 7)
    assert logistic_saturation(x, 2.0) == pytest.approx(np.tanh(x))


def test_sales_are_the_sum_of_the_known_parts_and_roas_follows() -> None:
    data = simulate_media(104, seed=3)
    assert len(data.dates) == 104 and data.dates[0] == "2024-01-01"
    for ch in DEFAULT_MEDIA:
        x = data.spend[ch.name]
        expected = ch.beta * logistic_saturation(
            geometric_adstock(x / x.max(), ch.alpha, 8), ch.lam
        )
        assert data.contributions[ch.name] == pytest.approx(expected)
        assert data.true_roas()[ch.name] == pytest.approx(expected.sum() / x.sum())
        assert (x == 0).mean() > 0.1  # flighted: dark weeks identify the effect
    media = sum(data.contributions.values())
    rest = data.sales - media
    assert abs(rest.mean() - 2000 - 0.1 * 2000 * data.promo.mean()) < 60
    assert data.rows()[0].keys() == {
        "date",
        "tv",
        "search",
        "social",
        "display",
        "email",
        "promo",
        "sales",
    }


def test_bad_settings_raise() -> None:
    with pytest.raises(SimError, match="alpha"):
        MediaChannel("tv", 100.0, 10.0, 1.0, 1.5)
    with pytest.raises(SimError, match="at least 8 weeks"):
        simulate_media(4)
