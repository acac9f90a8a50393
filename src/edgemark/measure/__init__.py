"""Measurement plane: what the decisions really changed, with honest intervals.

Uplift and A/B tests (from unit-level files or DP-noised reports), off-policy evaluation,
multi-touch attribution, and marketing-mix modelling with budget allocation. The core is
numpy and the standard library; MMM needs the ``mmm`` extra.
"""

from __future__ import annotations

from edgemark.measure._abtest import ABTestResult, ArmEffect, ab_test, ab_test_csv
from edgemark.measure._attribution import (
    RULES,
    AttributionResult,
    attribute,
    attribution_csv,
    rule_attribution,
)
from edgemark.measure._budget import BudgetPlan, ResponseCurves, optimize_budget
from edgemark.measure._decision_logs import DecisionLogs, decision_logs
from edgemark.measure._markov import MarkovResult, markov_attribution
from edgemark.measure._mmm import ChannelEffect, MMMResult, fit_mmm, mmm_csv
from edgemark.measure._ope import OPEResult, PolicyValue, off_policy_value, ope_csv
from edgemark.measure._paths import Paths, read_paths
from edgemark.measure._shapley import ShapleyResult, shapley_attribution
from edgemark.measure._uplift import (
    UpliftEstimate,
    rate_variance,
    two_proportion_uplift,
    uplift_from_reports,
)
from edgemark.measure._uplift_model import (
    UpliftModel,
    UpliftModelReport,
    evaluate_uplift,
    fit_uplift_model,
    qini_curve,
    uplift_curve,
    uplift_model_csv,
)
from edgemark.measure._uplift_revenue import RevenueUpliftEstimate, revenue_uplift_from_reports

__all__ = [
    "RULES",
    "ABTestResult",
    "ArmEffect",
    "AttributionResult",
    "BudgetPlan",
    "ChannelEffect",
    "DecisionLogs",
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
    "decision_logs",
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
