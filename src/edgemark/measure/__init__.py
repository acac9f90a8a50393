"""Measurement plane: what the decisions really changed, with honest intervals.

Uplift and A/B tests (from unit-level files or DP-noised reports), off-policy evaluation,
multi-touch attribution, and marketing-mix modelling with budget allocation. The core is
numpy and the standard library; MMM needs the ``mmm`` extra.
"""

from __future__ import annotations

from edgemark.measure._abtest import ABTestResult, ArmEffect, ab_test, ab_test_csv
from edgemark.measure._ope import OPEResult, PolicyValue, off_policy_value, ope_csv
from edgemark.measure._uplift import (
    UpliftEstimate,
    rate_variance,
    two_proportion_uplift,
    uplift_from_reports,
)

__all__ = [
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
