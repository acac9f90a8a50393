"""Budget allocation on known response curves: the optimum equalises marginal returns,
matches a brute-force search, respects caps, and round-trips through its file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgemark.errors import MeasureError
from edgemark.measure import ResponseCurves, optimize_budget
from edgemark.sim import DEFAULT_MEDIA


def _true_curves(draws: int = 1, spread: float = 0.0) -> ResponseCurves:
    ch = DEFAULT_MEDIA[:3]
    rng = np.random.default_rng(0)
    beta = np.array([[c.beta for c in ch]]) * rng.lognormal(0, spread, (draws, 3))
    lam = np.array([[c.lam for c in ch]]) * rng.lognormal(0, spread, (draws, 3))
    return ResponseCurves(
        tuple(c.name for c in ch),
        np.array([3.0 * c.mean_spend for c in ch]),
        beta,
        lam,
        np.array([c.mean_spend for c in ch]),
    )


def test_optimum_matches_brute_force_and_equalises_marginal_returns() -> None:
    curves = _true_curves()
    plan = optimize_budget(curves, 600.0)
    spend = np.array(list(plan.spend.values()))
    assert spend.sum() == pytest.approx(600.0)
    grid = np.linspace(0, 600, 241)
    best = max(
        curves.response(np.array([a, b, 600 - a - b])).sum()
        for a in grid
        for b in grid[grid <= 600 - a]
    )
    assert plan.expected == pytest.approx(best, rel=1e-4)
    assert plan.expected >= best - 1e-9
    funded = spend > 1e-6
    marginal = curves.marginal(spend)
    assert np.ptp(marginal[funded]) < 1e-6 * marginal[funded].max()
    assert (marginal[~funded] <= marginal[funded].min() + 1e-9).all()
    assert plan.expected > plan.current_expected


def test_interval_comes_from_the_posterior_draws_and_caps_bind(tmp_path: Path) -> None:
    curves = _true_curves(draws=300, spread=0.2)
    plan = optimize_budget(curves, 600.0, upper={"search": 100.0}, level=0.9)
    assert plan.spend["search"] == pytest.approx(100.0, abs=1e-6)
    assert plan.low < plan.expected < plan.high
    totals = curves.response(np.array(list(plan.spend.values()))).sum(axis=1)
    assert (plan.low, plan.high) == pytest.approx(tuple(np.quantile(totals, [0.05, 0.95])))
    path = tmp_path / "curves.json"
    curves.save(path)
    again = optimize_budget(ResponseCurves.load(path), 600.0, upper={"search": 100.0})
    assert again.spend == pytest.approx(plan.spend)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"total": -1.0}, "positive"),
        ({"total": 10.0, "upper": {"radio": 1.0}}, "no channel"),
        ({"total": 10.0, "upper": {"tv": 1, "search": 1, "social": 1}}, "caps allow"),
    ],
)
def test_bad_requests_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(MeasureError, match=message):
        optimize_budget(_true_curves(), **kwargs)
