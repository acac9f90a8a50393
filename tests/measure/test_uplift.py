from __future__ import annotations

import math
from typing import Any

import pytest

from edgemark.errors import MeasureError
from edgemark.measure import rate_variance, two_proportion_uplift, uplift_from_reports


def test_two_proportion_uplift_matches_the_textbook_wald_interval() -> None:
    est = two_proportion_uplift(150, 1000, 100, 1000, 0.95, arm="pct10")
    se = math.sqrt(0.15 * 0.85 / 1000 + 0.10 * 0.90 / 1000)
    assert est.arm == "pct10"
    assert est.uplift == pytest.approx(0.05)
    assert est.std_error == pytest.approx(se)
    assert (est.ci_low, est.ci_high) == pytest.approx((0.05 - 1.959964 * se, 0.05 + 1.959964 * se))
    assert (est.rate, est.control_rate) == pytest.approx((0.15, 0.10))
    wider = two_proportion_uplift(150, 1000, 100, 1000, 0.99)
    assert wider.ci_high - wider.ci_low == pytest.approx(2 * 2.575829 * se)


def test_noise_variance_enters_through_the_delta_method() -> None:
    # m = 10 rows with b = 3: V = 10 * 2 * 9 = 180 on each count of the arm
    v = rate_variance(200, 1000, 180.0)
    assert v == pytest.approx((0.2 * 0.8 * 1000 + 180 * (1 + 0.04)) / 1000**2)
    assert rate_variance(200, 1000) == pytest.approx(0.2 * 0.8 / 1000)


def _rows(scale: float = 0.0) -> list[dict[str, Any]]:
    return (
        [
            {"experiment": "e", "arm": "holdout", "exposures": 500, "conversions": 50},
            {"experiment": "e", "arm": "holdout", "exposures": 500, "conversions": 50},
            {"experiment": "e", "arm": "pct10", "exposures": 400, "conversions": 60},
            {"experiment": "e", "arm": "pct10", "exposures": 600, "conversions": 90},
            {"experiment": "e", "arm": "bogo", "exposures": 1000, "conversions": 120},
        ]
        if scale == 0
        else [dict(r, count_noise_scale=scale) for r in _rows()]
    )


def test_rows_are_summed_per_arm_and_noise_scales_widen_the_interval() -> None:
    plain = {e.arm: e for e in uplift_from_reports(_rows())}
    noisy = {e.arm: e for e in uplift_from_reports(_rows(scale=5.0))}
    assert list(plain) == ["bogo", "pct10"]
    assert plain["pct10"].exposures == 1000 and plain["pct10"].conversions == 150
    assert plain["pct10"].control_exposures == 1000
    assert plain["pct10"].uplift == pytest.approx(0.05)
    # pct10: 2 rows, holdout: 2 rows, each 2 * 25 per count
    expected = math.sqrt(rate_variance(150, 1000, 100.0) + rate_variance(100, 1000, 100.0))
    assert noisy["pct10"].std_error == pytest.approx(expected)
    assert noisy["pct10"].std_error > plain["pct10"].std_error


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"arm": "pct10", "exposures": 10, "conversions": 1}], "no report rows for the control"),
        ([{"arm": "holdout", "exposures": 10, "conversions": 1}], "nothing to compare"),
        (
            [
                {"arm": "holdout", "exposures": 10, "conversions": 1},
                {"arm": "pct10", "exposures": -2, "conversions": 0},
            ],
            "'pct10' has no exposures",
        ),
        (
            [
                {"arm": "holdout", "exposures": 0, "conversions": 0},
                {"arm": "pct10", "exposures": 5, "conversions": 0},
            ],
            "'control' has no exposures",
        ),
        ([{"arm": "holdout", "exposures": "x", "conversions": 0}], "needs a number"),
        ([{"exposures": 1, "conversions": 0}], "needs an 'arm'"),
        ([{"arm": "holdout", "exposures": 1.5, "conversions": 0}], "whole count"),
        (
            [
                {"arm": "holdout", "exposures": 1, "conversions": 0, "count_noise_scale": -1},
            ],
            "count_noise_scale",
        ),
    ],
)
def test_unmeasurable_input_raises_measure_error(rows: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(MeasureError, match=message):
        uplift_from_reports(rows)


def test_mixed_experiments_are_refused_unless_one_is_picked() -> None:
    rows = [*_rows(), {"experiment": "other", "arm": "holdout", "exposures": 9, "conversions": 1}]
    with pytest.raises(MeasureError, match="mix experiments"):
        uplift_from_reports(rows)
    picked = uplift_from_reports(rows, experiment="e")
    assert picked[0].control_exposures == 1000


@pytest.mark.parametrize("level", [0.0, 1.0, 95])
def test_level_must_be_a_probability(level: float) -> None:
    with pytest.raises(MeasureError, match="level"):
        uplift_from_reports(_rows(), level=level)
