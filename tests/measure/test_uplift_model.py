"""Uplift models: curves and uplift@k equal scikit-uplift's definitions (restated here, the
package is not a dependency), the models rank the simulator's true per-customer uplift, and
on Hillstrom's e-mail test they find customers who respond more than the average."""

from __future__ import annotations

import json
from math import ceil

import numpy as np
import pytest
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.errors import MeasureError
from edgemark.measure import evaluate_uplift, fit_uplift_model, qini_curve, uplift_curve
from edgemark.measure._uplift_model import uplift_at_k
from edgemark.sim import RetailWorld, SimConfig
from tests.measure.data import hillstrom


def _sklift_curves(y, uplift, treatment):  # type: ignore[no-untyped-def]
    """sklift.metrics.uplift_curve / qini_curve, with np.cumsum for stable_cumsum."""
    order = np.argsort(uplift, kind="mergesort")[::-1]
    y, uplift, treatment = y[order], uplift[order], treatment[order]
    y_ctrl, y_trmnt = y.copy(), y.copy()
    y_ctrl[treatment == 1] = 0
    y_trmnt[treatment == 0] = 0
    idx = np.r_[np.where(np.diff(uplift))[0], uplift.size - 1]
    num_trmnt = np.cumsum(treatment)[idx].astype(float)
    y_t = np.cumsum(y_trmnt)[idx]
    num_all = idx + 1
    num_ctrl = num_all - num_trmnt
    y_c = np.cumsum(y_ctrl)[idx]
    up = (
        np.divide(y_t, num_trmnt, out=np.zeros_like(y_t), where=num_trmnt != 0)
        - np.divide(y_c, num_ctrl, out=np.zeros_like(y_c), where=num_ctrl != 0)
    ) * num_all
    qini = y_t - y_c * np.divide(
        num_trmnt, num_ctrl, out=np.zeros_like(num_trmnt), where=num_ctrl != 0
    )
    return np.r_[0, num_all], np.r_[0, up], np.r_[0, qini]


def test_curves_and_uplift_at_k_equal_scikit_uplift() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    t = rng.random(n) < 0.4
    y = rng.binomial(1, 0.1 + 0.05 * t).astype(float)
    score = np.round(rng.normal(size=n), 1)  # many ties
    k_ref, up_ref, qini_ref = _sklift_curves(y, score, t.astype(int))
    k, qini = qini_curve(y, score, t)
    ku, up = uplift_curve(y, score, t)
    assert k.tolist() == ku.tolist() == k_ref.tolist()
    assert qini == pytest.approx(qini_ref) and up == pytest.approx(up_ref)
    order = np.argsort(score)[::-1][: ceil(n * 0.3)]  # sklift 'first' (its sort is unstable)
    top = np.zeros(n, dtype=bool)
    top[order] = True
    expected = y[top & t].mean() - y[top & ~t].mean()
    stable = uplift_at_k(y, score + 1e-9 * np.arange(n)[::-1], t, 0.3)  # no ties: same units
    assert stable == pytest.approx(expected, abs=0.03)


def test_a_perfect_score_beats_random_by_the_hand_computed_area() -> None:
    # 4 treated (1, 1, 0, 0) and 4 control (0, 0, 1, 1); scores put responders first
    y = np.array([1, 1, 0, 0, 0, 0, 1, 1], dtype=float)
    t = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    score = np.array([8, 7, 2, 1, 6, 5, 4, 3], dtype=float)
    report = evaluate_uplift(y, score, t)
    _k, qini = qini_curve(y, score, t)
    # k = 5: 2 - 1 * 2/3; k = 6: 2 - 2 * 2/4; k = 7: 2 - 2 * 3/4; k = 8: 2 - 2 * 4/4
    assert qini == pytest.approx([0, 1, 2, 2, 2, 4 / 3, 1, 0.5, 0])
    # trapezoids: 0.5 + 1.5 + 2 + 2 + 5/3 + 7/6 + 0.75 + 0.25; the random line ends at 0
    assert report.qini_coefficient == pytest.approx((59 / 6) / 64)
    assert report.average_effect == 0.0
    assert report.uplift_at["50%"] == pytest.approx(1.0)


def _simulated(seed: int, n: int = 12_000):  # type: ignore[no-untyped-def]
    world = RetailWorld(SimConfig(customers=n, nodes=1, seed=seed))
    rng = np.random.default_rng(seed)
    visit = np.array([world.visit_probability(i) for i in range(n)])
    base = np.array([world.purchase_probability(i, None) for i in range(n)])
    offer = np.array([world.purchase_probability(i, "pct10") for i in range(n)])
    pre_visits = rng.binomial(56, visit)
    pre_buys = rng.binomial(pre_visits, base)
    x = np.column_stack([pre_visits, pre_buys / np.maximum(pre_visits, 1)])
    treated = rng.random(n) < 0.5
    visits = rng.binomial(14, visit)
    p_any = 1 - (1 - np.where(treated, offer, base)) ** visits
    y = (rng.random(n) < p_any).astype(float)
    true_uplift = (1 - (1 - offer) ** (14 * visit)) - (1 - (1 - base) ** (14 * visit))
    return x, treated, y, true_uplift


@pytest.mark.parametrize("method", ["two_model", "class_transformation"])
def test_models_rank_the_true_uplift_of_simulated_customers(method: str) -> None:
    x, t, y, truth = _simulated(5)
    train = np.arange(y.size) < 8000
    model = fit_uplift_model(x[train], t[train], y[train], method, seed=1)
    score = model.predict(x[~train])
    rank = np.corrcoef(np.argsort(np.argsort(score)), np.argsort(np.argsort(truth[~train])))[0, 1]
    assert rank > 0.3, rank
    top = score >= np.quantile(score, 0.7)
    assert truth[~train][top].mean() > 1.3 * truth[~train].mean()


def test_class_transformation_needs_a_binary_outcome() -> None:
    x = np.random.default_rng(0).normal(size=(200, 2))
    with pytest.raises(MeasureError, match="0/1 outcome"):
        fit_uplift_model(x, np.arange(200) % 2 == 0, x[:, 0], "class_transformation")


def test_cli_on_hillstrom_finds_customers_who_respond_more() -> None:
    features = ["recency", "history", "mens", "womens", "zip_code", "newbie", "channel"]
    args = [
        "measure",
        "uplift-model",
        "--data",
        str(hillstrom()),
        "--treatment",
        "segment",
        "--outcome",
        "visit",
        "--control",
        "No E-Mail",
        "--arm",
        "Womens E-Mail",
        *(a for f in features for a in ("--feature", f)),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    reports = {r["method"]: r for r in json.loads(result.stdout)}
    assert set(reports) == {"two_model", "class_transformation"}
    for r in reports.values():
        assert r["qini_coefficient"] > 0 and r["n_test"] > 12_000
        assert r["uplift_at"]["20%"] > r["average_effect"] > 0.03
    without_arm = [a for a in args if a not in ("--arm", "Womens E-Mail")]
    missing = CliRunner().invoke(app, without_arm)
    assert missing.exit_code == 5 and "several treated arms" in missing.output
