"""Interval coverage over many repetitions of a Bernoulli experiment, with and without DP
noise: the noise term is what keeps a 95% interval at 95% once reports are noised."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgemark.measure import uplift_from_reports
from edgemark.privacy import laplace_count, noise_scale

P_CONTROL, P_TREATED = 0.10, 0.14
ROWS_PER_ARM, EXPOSURES_PER_ROW = 7, 300


def _experiment(rep: int, epsilon: float | None) -> list[dict[str, Any]]:
    rng = np.random.default_rng(rep)
    rows = []
    for arm, p in (("holdout", P_CONTROL), ("pct10", P_TREATED)):
        for day in range(ROWS_PER_ARM):
            conversions = int(rng.binomial(EXPOSURES_PER_ROW, p))
            row: dict[str, Any] = {"day": day, "arm": arm}
            if epsilon is None:
                row.update(exposures=EXPOSURES_PER_ROW, conversions=conversions)
            else:
                row.update(
                    exposures=laplace_count(EXPOSURES_PER_ROW, epsilon),
                    conversions=laplace_count(conversions, epsilon),
                    count_noise_scale=noise_scale(epsilon, 1),
                )
            rows.append(row)
    return rows


def _coverage(experiments: list[list[dict[str, Any]]]) -> float:
    truth = P_TREATED - P_CONTROL
    hits = [
        est.ci_low <= truth <= est.ci_high
        for rows in experiments
        for est in uplift_from_reports(rows)
    ]
    return float(np.mean(hits))


def test_coverage_without_noise_is_nominal() -> None:
    coverage = _coverage([_experiment(rep, None) for rep in range(400)])
    assert 0.92 <= coverage <= 0.98


def test_coverage_with_large_noise_needs_the_noise_term() -> None:
    # epsilon 0.05 per count: b = 20, noise sd ~75 on each arm's summed counts of ~2100
    noisy = [_experiment(10_000 + rep, 0.05) for rep in range(1000)]
    with_term = _coverage(noisy)
    ignored = [[{**r, "count_noise_scale": 0.0} for r in rows] for rows in noisy]
    without_term = _coverage(ignored)
    assert 0.92 <= with_term <= 0.98
    assert without_term < 0.8
