"""On Hillstrom's real randomised e-mail test, arm effects and intervals equal a plain
difference in means computed independently with SciPy, and CUPED on ``history`` removes
the share of variance that ``history`` explains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from edgemark.measure import ab_test_csv
from tests.measure.data import hillstrom

CONTROL = "No E-Mail"


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return pd.read_csv(hillstrom())


@pytest.mark.parametrize("outcome", ["visit", "conversion", "spend"])
def test_arm_effects_match_a_welch_difference_in_means(frame: pd.DataFrame, outcome: str) -> None:
    result = ab_test_csv(hillstrom(), "segment", outcome, control=CONTROL)
    control = frame.loc[frame.segment == CONTROL, outcome].to_numpy(float)
    assert result.control == CONTROL
    assert [e.arm for e in result.effects] == ["Mens E-Mail", "Womens E-Mail"]
    for e in result.effects:
        treated = frame.loc[frame.segment == e.arm, outcome].to_numpy(float)
        diff = treated.mean() - control.mean()
        se = np.sqrt(treated.var(ddof=1) / treated.size + control.var(ddof=1) / control.size)
        z = stats.norm.ppf(0.975)
        welch = stats.ttest_ind(treated, control, equal_var=False)
        assert (e.n, e.control_n) == (treated.size, control.size)
        assert e.effect == pytest.approx(diff, rel=1e-12)
        assert e.std_error == pytest.approx(se, rel=1e-10)
        assert (e.ci_low, e.ci_high) == pytest.approx((diff - z * se, diff + z * se), rel=1e-10)
        # Welch's t with ~40k degrees of freedom: the normal p-value agrees to 1% even at 1e-7
        assert e.p_value == pytest.approx(welch.pvalue, rel=1e-2)
        assert e.relative == pytest.approx(diff / control.mean(), rel=1e-12)
        assert e.relative_ci_low < e.relative < e.relative_ci_high
    assert sum(result.arms.values()) == len(frame) == 64_000


def test_relative_interval_is_the_delta_method_one(frame: pd.DataFrame) -> None:
    (mens, _) = ab_test_csv(hillstrom(), "segment", "conversion", control=CONTROL).effects
    t = frame.loc[frame.segment == "Mens E-Mail", "conversion"].to_numpy(float)
    c = frame.loc[frame.segment == CONTROL, "conversion"].to_numpy(float)
    ratio = t.mean() / c.mean()
    se = ratio * np.sqrt(
        t.var(ddof=1) / t.size / t.mean() ** 2 + c.var(ddof=1) / c.size / c.mean() ** 2
    )
    z = stats.norm.ppf(0.975)
    assert (mens.relative_ci_low, mens.relative_ci_high) == pytest.approx(
        (ratio - 1 - z * se, ratio - 1 + z * se), rel=1e-9
    )


@pytest.mark.parametrize("outcome", ["visit", "spend"])
def test_cuped_with_history_removes_the_explained_variance(
    frame: pd.DataFrame, outcome: str
) -> None:
    plain = ab_test_csv(hillstrom(), "segment", outcome, control=CONTROL)
    cuped = ab_test_csv(hillstrom(), "segment", outcome, control=CONTROL, covariate="history")
    y, x = frame[outcome].to_numpy(float), frame["history"].to_numpy(float)
    theta = np.cov(y, x)[0, 1] / x.var(ddof=1)
    explained = np.corrcoef(y, x)[0, 1] ** 2
    assert cuped.theta == pytest.approx(theta, rel=1e-9)
    assert cuped.covariate == "history"
    for p, c in zip(plain.effects, cuped.effects, strict=True):
        assert c.std_error < p.std_error
        assert c.variance_reduction == pytest.approx(explained, rel=0.25)
        # the same experiment: the adjusted effect moves by far less than its error
        assert abs(c.effect - p.effect) < 0.25 * p.std_error
