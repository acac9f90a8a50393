from __future__ import annotations

import edgemark.measure


def test_public_names_are_pinned() -> None:
    assert edgemark.measure.__all__ == [
        "ABTestResult",
        "ArmEffect",
        "OPEResult",
        "PolicyValue",
        "UpliftEstimate",
        "ab_test",
        "ab_test_csv",
        "off_policy_value",
        "ope_csv",
        "rate_variance",
        "two_proportion_uplift",
        "uplift_from_reports",
    ]
    assert all(hasattr(edgemark.measure, name) for name in edgemark.measure.__all__)
