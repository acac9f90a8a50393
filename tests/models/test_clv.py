from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from edgemark.errors import ModelError
from edgemark.models import fit_bgnbd, fit_gamma_gamma, rfm_summary
from edgemark.models._clv import bgnbd_log_likelihood


def _lifetimes() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about pandas options on import
        return pytest.importorskip("lifetimes")


def _simulate_bgnbd(
    n: int, truth: tuple[float, float, float, float], seed: int, ages: tuple[float, float]
) -> pd.DataFrame:
    """The BG/NBD story: Poisson purchases at rate lambda, dropout p after each repeat."""
    r, alpha, a, b = truth
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    big_t = rng.uniform(*ages, n)
    rows = []
    for i in range(n):
        t, times = 0.0, []
        while True:
            t += rng.exponential(1 / lam[i])
            if t > big_t[i]:
                break
            times.append(t)
            if rng.random() < p[i]:
                break
        rows.append((len(times), times[-1] if times else 0.0, big_t[i]))
    return pd.DataFrame(rows, columns=["frequency", "recency", "T"])


def test_bgnbd_mle_recovers_simulated_parameters() -> None:
    truth = (0.25, 4.0, 0.8, 2.5)
    data = _simulate_bgnbd(6000, truth, seed=3, ages=(30, 52))

    fit = fit_bgnbd(data["frequency"], data["recency"], data["T"])

    got = (fit.r, fit.alpha, fit.a, fit.b)
    for name, est, true in zip("r alpha a b".split(), got, truth, strict=True):
        assert est == pytest.approx(true, rel=0.25), name
    # The MLE is a maximum: the truth is no more likely than the fit.
    columns = (data[c].to_numpy() for c in ("frequency", "recency", "T"))
    assert fit.log_likelihood >= bgnbd_log_likelihood(truth, *columns).sum()
    # A customer with no history yet expects what fresh simulated customers do in 52 weeks.
    fresh = _simulate_bgnbd(6000, truth, seed=4, ages=(52, 52))
    expected = float(fit.expected_purchases(52, 0, 0, 0))
    assert expected == pytest.approx(float(fresh["frequency"].mean()), rel=0.1)


def test_gamma_gamma_mle_recovers_simulated_parameters() -> None:
    rng = np.random.default_rng(5)
    p, q, v = 6.0, 4.0, 15.0
    x = rng.integers(1, 8, 4000)
    nu = rng.gamma(q, 1 / v, x.size)
    m = np.array([rng.gamma(p, 1 / n, k).mean() for n, k in zip(nu, x, strict=True)])

    fit = fit_gamma_gamma(x, m)

    assert fit.p == pytest.approx(p, rel=0.15)
    assert fit.q == pytest.approx(q, rel=0.15)
    assert fit.v == pytest.approx(v, rel=0.2)
    # Population mean spend p v / (q - 1) against the simulated customers' true means p / nu.
    assert fit.expected_spend(0, 0) == pytest.approx(float(np.mean(p / nu)), rel=0.05)


def test_fits_equal_lifetimes_on_cdnow_and_the_published_values() -> None:
    lifetimes = _lifetimes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

        data = load_cdnow_summary_data_with_monetary_value()
        repeat = data[data["frequency"] > 0]
        ref_bg = lifetimes.BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
        ref_gg = lifetimes.GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        ref_e = ref_bg.conditional_expected_number_of_purchases_up_to_time(
            39, data["frequency"], data["recency"], data["T"]
        ).to_numpy()
        ref_s = ref_gg.conditional_expected_average_profit(
            repeat["frequency"], repeat["monetary_value"]
        ).to_numpy()

    bg = fit_bgnbd(data["frequency"], data["recency"], data["T"])
    gg = fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])

    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426 on these 2357 customers;
    # Fader & Hardie (2013): p=6.25, q=3.74, v=15.44.
    assert (round(bg.r, 3), round(bg.alpha, 3), round(bg.a, 3), round(bg.b, 3)) == (
        0.243, 4.414, 0.793, 2.426
    )  # fmt: skip
    assert (round(gg.p, 2), round(gg.q, 2), round(gg.v, 2)) == (6.25, 3.74, 15.45)
    for name in ("r", "alpha", "a", "b"):
        assert getattr(bg, name) == pytest.approx(ref_bg.params_[name], rel=1e-4), name
    for name in ("p", "q", "v"):
        assert getattr(gg, name) == pytest.approx(ref_gg.params_[name], rel=1e-4), name
    ours = bg.expected_purchases(39, data["frequency"], data["recency"], data["T"])
    np.testing.assert_allclose(ours, ref_e, rtol=1e-4)
    spend = gg.expected_spend(repeat["frequency"], repeat["monetary_value"])
    np.testing.assert_allclose(spend, ref_s, rtol=1e-4)


def test_rfm_summary_equals_lifetimes_summary() -> None:
    lifetimes = _lifetimes()
    rng = np.random.default_rng(0)
    n = 400
    tx = pd.DataFrame(
        {
            "cust": rng.integers(0, 60, n).astype(str),
            "when": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 200 * 24, n), "h"),
            "amount": rng.gamma(2.0, 20.0, n).round(2),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lifetimes.utils.summary_data_from_transaction_data(
            tx, "cust", "when", "amount", observation_period_end="2026-08-01"
        )

    ours = rfm_summary(tx, "cust", "when", "amount", observation_end="2026-08-01")

    ours, ref = ours.sort_index(), ref.sort_index()
    assert list(ours.index) == list(ref.index)
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(
            ours[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9, err_msg=col
        )


def test_rfm_summary_by_hand_and_epoch_seconds() -> None:
    day = 86400.0
    tx = pd.DataFrame(
        {
            "c": ["a", "a", "a", "b"],
            "t": [0.0, 3 * day + 5, 3 * day + 9, 2 * day],
            "m": [5, 1, 2, 9],
        }
    )

    s = rfm_summary(tx, "c", "t", "m", observation_end=10 * day)

    assert s.loc["a"].to_dict() == {
        "frequency": 1,
        "recency": 3.0,
        "T": 10.0,
        "monetary_value": 3.0,
    }
    assert s.loc["b"].to_dict() == {"frequency": 0, "recency": 0.0, "T": 8.0, "monetary_value": 0.0}


def test_bad_clv_inputs_are_model_errors() -> None:
    tx = pd.DataFrame({"c": ["a"], "t": [0.0], "m": ["x"]})
    with pytest.raises(ModelError, match="lack column"):
        rfm_summary(tx, "c", "when", "m")
    with pytest.raises(ModelError, match="non-numeric"):
        rfm_summary(tx, "c", "t", "m")
    with pytest.raises(ModelError, match="purchased twice"):
        fit_bgnbd(np.zeros(20), np.zeros(20), np.ones(20))
    with pytest.raises(ModelError, match="repeat customers"):
        fit_gamma_gamma([1, 2], [3.0, 4.0])
