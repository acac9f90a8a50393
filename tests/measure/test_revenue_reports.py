"""Revenue uplift from the edge's own report rows: with a huge epsilon it is the plain
difference in means with the Welch standard error; with several decisions per user the
interval is conservative against the exact cluster-robust one; bad rows get clear errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edgemark.edge._reports import build_day_rows
from edgemark.edge._settings import parse_policy
from edgemark.edge._state import DayDecision
from edgemark.errors import MeasureError
from edgemark.measure import ab_test, revenue_uplift_from_reports

OFFERS = [
    {"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 1.0},
    {"id": "bogo", "name": "Buy one get one", "discount": 0.5, "cost": 3.0},
]
CAP = 120.0


def _policy(k: int) -> Any:
    return parse_policy(
        {
            "experiment": "exp-1", "salt": "s", "holdout_share": 0.3, "lookback_hours": 24.0,
            "epsilon_per_report": 1e9, "max_contributions_per_user": k, "revenue_cap": CAP,
            "prior_alpha": 1.0, "prior_beta": 1.0,
        },
        OFFERS,
    )  # fmt: skip


def _decisions(
    rng: np.random.Generator, users: int, per_user: int, rate: float = 0.3
) -> list[DayDecision]:
    arms = ["holdout", "pct10", "bogo"]
    mean = {"holdout": 20.0, "pct10": 26.0, "bogo": 23.0}
    out: list[DayDecision] = []
    for u in range(users):
        for j in range(int(rng.integers(1, per_user + 1))):
            arm = arms[int(rng.integers(3))]
            buys = rng.random() < rate
            revenue = float(rng.exponential(mean[arm] / rate)) if buys else None
            layer = "holdout" if arm == "holdout" else "explore"
            out.append((f"d{u}-{j}", f"u{u:05d}", "exp-1", layer, arm, 1, revenue, ""))
    return out


def test_huge_epsilon_matches_the_plain_difference_in_means() -> None:
    rng = np.random.default_rng(5)
    rows: list[dict[str, Any]] = []
    arms: list[str] = []
    outcome: list[float] = []
    for day in range(3):
        decisions = _decisions(rng, 2000, 1)
        rows += build_day_rows("s", day, decisions, {"exp-1": _policy(1)})[0]["exp-1"]
        arms += [d[4] for d in decisions]
        outcome += [min(d[6], CAP) if d[6] is not None else 0.0 for d in decisions]
    reference = {e.arm: e for e in ab_test(arms, outcome, control="holdout").effects}
    estimates = revenue_uplift_from_reports(rows)
    assert [e.arm for e in estimates] == sorted(reference)
    for est in estimates:
        ref = reference[est.arm]
        assert est.uplift == pytest.approx(ref.effect, abs=1e-6)
        assert est.mean == pytest.approx(ref.mean, abs=1e-6)
        # The reports use the population variance (divide by n), Welch the sample one.
        assert est.std_error == pytest.approx(ref.std_error, rel=1e-3)
        assert est.noise_share < 1e-12


def _cluster_se(decisions: list[DayDecision], arm: str, k: int) -> float:
    """The exact cluster-robust variance of revenue per exposure, from the units."""
    used: dict[str, int] = {}
    users: dict[str, list[float]] = {}
    for d in decisions:
        if used.get(d[1], 0) >= k:
            continue
        used[d[1]] = used.get(d[1], 0) + 1
        if d[4] == arm:
            y = min(d[6], CAP) if d[6] is not None else 0.0
            users.setdefault(d[1], [0.0, 0.0])
            users[d[1]][0] += y
            users[d[1]][1] += 1
    y, n = np.array(list(users.values())).T
    r = y.sum() / n.sum()
    return float(np.sum((y - r * n) ** 2) / n.sum() ** 2)


def test_several_decisions_per_user_give_a_conservative_but_close_interval() -> None:
    # The bound adds about (k - 1) R^2 / E to each arm's variance: small next to the
    # variance of revenue when purchases are rare (here 10% of decisions).
    decisions = _decisions(np.random.default_rng(8), 3000, 4, rate=0.1)
    rows = build_day_rows("s", 0, decisions, {"exp-1": _policy(3)})[0]["exp-1"]
    exact = {a: _cluster_se(decisions, a, 3) for a in ("holdout", "pct10", "bogo")}
    for est in revenue_uplift_from_reports(rows):
        truth_se = math.sqrt(exact[est.arm] + exact["holdout"])
        assert truth_se <= est.std_error <= 1.25 * truth_se, (est.arm, est.std_error, truth_se)


def test_rows_without_squares_are_refused_with_what_to_do() -> None:
    rows = [
        {"arm": "holdout", "exposures": 10, "revenue": 5.0, "revenue_sq": None},
        {"arm": "pct10", "exposures": 10, "revenue": 6.0, "revenue_sq": 9.0},
    ]
    with pytest.raises(MeasureError, match="older than revenue intervals"):
        revenue_uplift_from_reports(rows)
    with pytest.raises(MeasureError, match="control arm 'nope'"):
        revenue_uplift_from_reports(rows[1:], control_arm="nope")
    with pytest.raises(MeasureError, match="no exposures"):
        revenue_uplift_from_reports([{**rows[1], "arm": "holdout", "exposures": 0}, rows[1]])
    with pytest.raises(MeasureError, match="max_contributions"):
        revenue_uplift_from_reports(
            [{**r, "revenue_sq": 1.0, "max_contributions": 0} for r in rows]
        )


def test_a_noised_square_sum_is_brought_into_the_feasible_range() -> None:
    # k cap = sq scale / revenue scale = 100; S = 500 over E = 100 exposures.
    base = {"exposures": 100, "revenue": 500.0, "revenue_noise_scale": 1.0,
            "revenue_sq_noise_scale": 100.0, "max_contributions": 1}  # fmt: skip
    control = {**base, "arm": "holdout", "revenue_sq": 5000.0}
    for noised, used in ((-9e9, 500.0**2 / 100), (9e9, 100 * 500.0), (4e4, 4e4)):
        (est,) = revenue_uplift_from_reports([control, {**base, "arm": "a", "revenue_sq": noised}])
        sampling = (used - 500.0**2 / 100) / 100**2 + (5000.0 - 2500.0) / 100**2
        noise = 2 * (2 * 1.0**2) / 100**2
        assert est.std_error**2 == pytest.approx(sampling + noise, rel=1e-9), noised
