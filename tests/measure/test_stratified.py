"""Post-stratified uplift: unbiased when arms are allocated differently per stratum."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.errors import MeasureError
from edgemark.measure import uplift_from_reports


def _rows(rng: np.random.Generator) -> tuple[list[dict[str, object]], float]:
    # Two stores: A converts at 0.30, B at 0.05; the offer adds +0.04 at A and +0.02 at B.
    # A's sampler shows the offer to 90% of its non-holdout traffic, B's to 10%, so a
    # pooled comparison credits the offer with A's higher base rate.
    stores = {"A": (0.30, 0.04, 0.9, 6000), "B": (0.05, 0.02, 0.1, 4000)}
    rows: list[dict[str, object]] = []
    truth = 0.0
    total = sum(n for *_, n in stores.values())
    for name, (base, effect, share, visits) in stores.items():
        truth += effect * visits / total
        n_hold = int(visits * 0.2)
        n_offer = int((visits - n_hold) * share)
        n_other = visits - n_hold - n_offer
        for arm, n, p in (
            ("holdout", n_hold, base),
            ("offer", n_offer, base + effect),
            ("other", n_other, base),
        ):
            rows.append(
                {
                    "node_id": name,
                    "arm": arm,
                    "exposures": n,
                    "conversions": int(rng.binomial(n, p)),
                }
            )
    return rows, truth


def test_stratified_estimate_covers_truth_where_pooled_is_biased() -> None:
    rng = np.random.default_rng(3)
    covered_stratified = covered_pooled = 0
    runs = 300
    for _ in range(runs):
        rows, truth = _rows(rng)
        strat = {e.arm: e for e in uplift_from_reports(rows, strata_key="node_id")}["offer"]
        pooled = {e.arm: e for e in uplift_from_reports(rows)}["offer"]
        covered_stratified += strat.ci_low <= truth <= strat.ci_high
        covered_pooled += pooled.ci_low <= truth <= pooled.ci_high
        assert strat.strata == 2
    assert 0.92 <= covered_stratified / runs <= 0.98
    assert covered_pooled / runs < 0.2


def test_stratified_needs_the_stratum_column() -> None:
    rows = [{"arm": "holdout", "exposures": 10, "conversions": 1}]
    with pytest.raises(MeasureError, match="stratum column 'node_id'"):
        uplift_from_reports(rows, strata_key="node_id")


def test_strata_without_the_arm_are_left_out_and_counted() -> None:
    rows = [
        {"node_id": "A", "arm": "holdout", "exposures": 1000, "conversions": 100},
        {"node_id": "A", "arm": "offer", "exposures": 1000, "conversions": 150},
        {"node_id": "B", "arm": "holdout", "exposures": 1000, "conversions": 300},
    ]
    (est,) = uplift_from_reports(rows, strata_key="node_id")
    assert est.strata == 1
    assert est.uplift == pytest.approx(0.05)
