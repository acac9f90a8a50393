"""Measurement plane: what the decisions really changed, with honest intervals.

Pure numpy and the standard library; estimators take the noise of DP reports into account.
"""

from __future__ import annotations

from edgemark.measure._uplift import (
    UpliftEstimate,
    rate_variance,
    two_proportion_uplift,
    uplift_from_reports,
)

__all__ = [
    "UpliftEstimate",
    "rate_variance",
    "two_proportion_uplift",
    "uplift_from_reports",
]
