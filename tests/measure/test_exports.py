from __future__ import annotations

import edgemark.measure


def test_public_names_are_pinned() -> None:
    assert edgemark.measure.__all__ == [
        "RULES",
        "ABTestResult",
        "ArmEffect",
        "AttributionResult",
        "BudgetPlan",
        "ChannelEffect",
        "MMMResult",
        "MarkovResult",
        "OPEResult",
        "Paths",
        "PolicyValue",
        "ResponseCurves",
        "ShapleyResult",
        "UpliftEstimate",
        "ab_test",
        "ab_test_csv",
        "attribute",
        "attribution_csv",
        "fit_mmm",
        "markov_attribution",
        "mmm_csv",
        "off_policy_value",
        "ope_csv",
        "optimize_budget",
        "rate_variance",
        "read_paths",
        "rule_attribution",
        "shapley_attribution",
        "two_proportion_uplift",
        "uplift_from_reports",
    ]
    assert all(hasattr(edgemark.measure, name) for name in edgemark.measure.__all__)
