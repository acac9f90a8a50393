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
        "RevenueUpliftEstimate",
        "ShapleyResult",
        "UpliftEstimate",
        "UpliftModel",
        "UpliftModelReport",
        "ab_test",
        "ab_test_csv",
        "attribute",
        "attribution_csv",
        "evaluate_uplift",
        "fit_mmm",
        "fit_uplift_model",
        "markov_attribution",
        "mmm_csv",
        "off_policy_value",
        "ope_csv",
        "optimize_budget",
        "qini_curve",
        "rate_variance",
        "read_paths",
        "revenue_uplift_from_reports",
        "rule_attribution",
        "shapley_attribution",
        "two_proportion_uplift",
        "uplift_curve",
        "uplift_from_reports",
        "uplift_model_csv",
    ]
    assert all(hasattr(edgemark.measure, name) for name in edgemark.measure.__all__)
