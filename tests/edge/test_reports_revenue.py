"""Report rows carry the noised sum of squared per-user revenue with bounded contributions,
and their noise spends exactly the report's epsilon (four statistics, epsilon / 4 each)."""

from __future__ import annotations

import math

import pytest

from edgemark.edge._reports import build_day_rows
from edgemark.edge._settings import parse_policy
from edgemark.edge._state import DayDecision
from edgemark.privacy import count_mechanism, sum_mechanism
from tests.edge.edge_support import OFFERS, POLICY


def _decision(i: int, user: str, arm: str, revenue: float | None) -> DayDecision:
    layer = "holdout" if arm == "holdout" else "explore"
    return (f"d{i}", user, "exp-1", layer, arm, 1, revenue, "")


def test_squares_are_per_user_clipped_and_bounded_to_k_decisions() -> None:
    policy = parse_policy({**POLICY, "epsilon_per_report": 1e9}, OFFERS)  # k = 2, cap 100
    decisions = [  # ordered by user then time, as the store returns them
        _decision(0, "a", "pct10", 30.0),
        _decision(1, "a", "pct10", 500.0),  # clipped to 100
        _decision(2, "a", "pct10", 40.0),  # third decision: not counted
        _decision(3, "b", "pct10", None),
        _decision(4, "b", "bogo", 20.0),
        _decision(5, "c", "holdout", 10.0),
    ]
    rows, counted = build_day_rows("store-1", 3, decisions, {"exp-1": policy})
    by_arm = {r["arm"]: r for r in rows["exp-1"]}
    assert counted == ["d0", "d1", "d3", "d4", "d5"]
    expected = {"pct10": 130.0**2, "bogo": 20.0**2, "holdout": 10.0**2, "freeship": 0.0}
    for arm, squares in expected.items():
        assert by_arm[arm]["revenue_sq"] == pytest.approx(squares, abs=1e-3)
        assert by_arm[arm]["max_contributions"] == 2
    assert by_arm["pct10"]["revenue"] == pytest.approx(130.0, abs=1e-3)
    assert by_arm["pct10"]["exposures"] == 3


def test_the_four_mechanisms_compose_to_the_reports_epsilon() -> None:
    policy = parse_policy({**POLICY, "epsilon_per_report": 0.8}, OFFERS)
    rows, _ = build_day_rows("s", 1, [_decision(0, "a", "bogo", 5.0)], {"exp-1": policy})
    row = rows["exp-1"][0]
    k, cap = 2, 100.0
    per_statistic = 0.8 / 4
    assert row["count_noise_scale"] == pytest.approx(k / per_statistic)
    assert row["revenue_noise_scale"] == pytest.approx(k * cap / per_statistic)
    assert row["revenue_sq_noise_scale"] == pytest.approx((k * cap) ** 2 / per_statistic)
    # OpenDP's own privacy maps at each statistic's sensitivity: they add up to epsilon.
    spent = [
        count_mechanism(per_statistic, k).map(k),
        count_mechanism(per_statistic, k).map(k),
        sum_mechanism(per_statistic, k * cap).map(k * cap),
        sum_mechanism(per_statistic, (k * cap) ** 2).map((k * cap) ** 2),
    ]
    assert math.isclose(sum(spent), row["epsilon"], rel_tol=1e-9)


def test_a_user_split_over_arms_moves_the_squares_by_at_most_k_cap_squared() -> None:
    # Sensitivity argument of the module docstring, checked on the worst case: one user's
    # k decisions at the cap, in one arm or split over two.
    policy = parse_policy({**POLICY, "epsilon_per_report": 1e9}, OFFERS)
    together = [_decision(0, "u", "bogo", 100.0), _decision(1, "u", "bogo", 100.0)]
    apart = [_decision(0, "u", "bogo", 100.0), _decision(1, "u", "pct10", 100.0)]
    for decisions in (together, apart):
        rows, _ = build_day_rows("s", 1, decisions, {"exp-1": policy})
        assert sum(r["revenue_sq"] for r in rows["exp-1"]) <= (2 * 100.0) ** 2 + 1e-3
