from __future__ import annotations

import edgemark.measure


def test_public_names_are_pinned() -> None:
    assert edgemark.measure.__all__ == [
        "RULES",
        "ABTestResult",
        "ArmEffect",
        "AttributionResult",
        "MarkovResult",
        "OPEResult",
        "Paths",
        "PolicyValue",
        "ShapleyResult",
        "UpliftEstimate",
        "ab_test",
        "ab_test_csv",
        "attribute",
        "attribution_csv",
        "markov_attribution",
        "off_policy_value",
        "ope_csv",
        "rate_variance",
        "read_paths",
        "rule_attribution",
        "shapley_attribution",
        "two_proportion_uplift",
        "uplift_from_reports",
    ]
    assert all(hasattr(edgemark.measure, name) for name in edgemark.measure.__all__)
