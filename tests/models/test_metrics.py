from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from edgemark.errors import ModelError
from edgemark.models import (
    auc_delong,
    auc_difference,
    binary_report,
    brier,
    calibration_bins,
    ece,
    hit_rate_at_k,
    log_loss,
    ndcg_at_k,
)
from edgemark.models._metrics import bootstrap_interval


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(np.int64)
    p = np.clip((0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.2, n)).round(2), 0.01, 0.99)  # ties
    return y, p


def test_point_metrics_equal_scikit_learn_with_ties() -> None:
    y, p = _scores(3000, 0)

    assert auc_delong(y, p)[0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), abs=1e-12)
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_delong_interval_covers_the_true_binormal_auc_about_95_percent() -> None:
    # Positives ~ N(1, 1), negatives ~ N(0, 1): true AUC = Phi(1 / sqrt(2)) = 0.76025.
    true_auc = 0.7602499389065233
    rng = np.random.default_rng(42)
    covered, widths = 0, []
    for _ in range(300):
        y = np.r_[np.ones(120), np.zeros(150)]
        p = np.r_[rng.normal(1, 1, 120), rng.normal(0, 1, 150)]
        _, lo, hi = auc_delong(y, p)
        covered += lo <= true_auc <= hi
        widths.append(hi - lo)

    assert 0.92 <= covered / 300 <= 0.98
    # Hanley-McNeil standard error at this size is ~0.029, so the 95% width is ~0.11.
    assert 0.09 < float(np.mean(widths)) < 0.13


def test_paired_auc_difference() -> None:
    y, p = _scores(2000, 1)
    noisy = p + np.random.default_rng(2).normal(0, 0.3, p.size)

    delta, lo, hi = auc_difference(y, p, noisy)
    same = auc_difference(y, p, p)

    assert delta == pytest.approx(roc_auc_score(y, p) - roc_auc_score(y, noisy), abs=1e-12)
    assert 0 < lo < delta < hi
    assert same == (0.0, 0.0, 0.0)


def test_calibration_bins_and_ece_by_hand() -> None:
    y = [0, 0, 1, 1, 1, 0]
    p = [0.05, 0.15, 0.15, 0.85, 0.95, 0.95]

    bins = calibration_bins(y, p, n_bins=2)

    assert [b["n"] for b in bins] == [3, 3]
    assert bins[0]["mean_predicted"] == pytest.approx(0.35 / 3)
    assert bins[0]["observed_rate"] == pytest.approx(1 / 3)
    expected = 0.5 * abs(0.35 / 3 - 1 / 3) + 0.5 * abs(2.75 / 3 - 2 / 3)
    assert ece(y, p, n_bins=2) == pytest.approx(expected)
    assert ece([1, 0], [1.0, 0.0]) == 0.0


def test_bootstrap_report_intervals_bracket_the_estimates() -> None:
    y, p = _scores(1500, 3)

    report = binary_report(y, p, n_boot=100, seed=1)

    for name in ("auc", "log_loss", "brier", "ece"):
        m = report[name]
        assert m["low"] <= m["value"] <= m["high"], name
        assert m["high"] - m["low"] > 0
    assert report["n"] == 1500 and report["positive_rate"] == pytest.approx(y.mean())
    assert bootstrap_interval(brier, y, p, n_boot=50, seed=9) == bootstrap_interval(
        brier, y, p, n_boot=50, seed=9
    )


def test_ranking_metrics_by_hand() -> None:
    scores = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    truth = np.array([0, 0, 2])  # ranks 1, 3, 2

    assert hit_rate_at_k(scores, truth, k=2) == pytest.approx(2 / 3)
    assert ndcg_at_k(scores, truth, k=5) == pytest.approx((1 + 0.5 + 1 / np.log2(3)) / 3)
    assert ndcg_at_k(scores, truth, k=1) == pytest.approx(1 / 3)


def test_bad_inputs_are_model_errors() -> None:
    with pytest.raises(ModelError, match="both positive and negative"):
        auc_delong([1, 1], [0.2, 0.3])
    with pytest.raises(ModelError, match="0 or 1"):
        brier([2, 0], [0.1, 0.2])
    with pytest.raises(ModelError, match="as many labels"):
        log_loss([1, 0, 1], [0.1, 0.2])
    with pytest.raises(ModelError, match="finite"):
        brier([1, 0], [float("nan"), 0.2])
