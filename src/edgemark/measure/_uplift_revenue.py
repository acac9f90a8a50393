"""Uplift in revenue per exposure from DP report rows, with sampling variance and noise.

Per arm the rows sum to exposures ``E``, revenue ``S`` and squared per-user revenue ``Q``
(each user's clipped revenue in the cell, squared, summed over users), each carrying
Laplace noise of a known scale per row. The estimate is ``R = S / E``. With ``y_u`` and
``n_u`` a user's revenue and exposures in the cell (``n_u <= k = max_contributions``) the
cluster-robust sampling variance of ``R`` is ``sum_u (y_u - R n_u)^2 / E^2``. The rows carry
``Q = sum y_u^2`` but not ``sum y_u n_u`` or ``sum n_u^2``; since ``1 <= n_u <= k`` and
``y_u, R >= 0``, ``sum_u (y_u - R n_u)^2 <= Q - 2 R S + k R^2 E = Q + (k - 2) S^2 / E``,
exact when ``k = 1`` (then it is the usual ``E`` times the per-exposure variance) and
conservative otherwise. The noises ``N_S`` (variance ``V_S = sum 2 b_S^2``) and ``N_E``
(``V_E = sum 2 b_E^2``) move ``R`` by ``(N_S - R N_E) / E`` to first order, so

    Var(R) ~ [max(Q + (k - 2) S^2 / E, 0) + V_S + R^2 V_E] / E^2.

Noise on ``Q`` only makes this variance estimate noisier; the noised ``Q`` is first brought
into the range any data could give, ``[S^2 / E, k cap S]`` (``k cap`` is the ratio of the
rows' squared-revenue and revenue noise scales), which tames it when the noise is large.
Arms are independent samples, so the uplift's variance is the sum of the two arms'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from edgemark.errors import MeasureError
from edgemark.measure._uplift import _check_arms, _split_strata, _sum_arms


@dataclass(frozen=True, slots=True)
class RevenueUpliftEstimate:
    """Absolute uplift in revenue per exposure of ``arm`` over the control, with interval.

    ``mean`` and ``control_mean`` are (noised) revenue / exposures; ``noise_share`` is the
    part of the uplift's variance that the DP noise contributes (0: no noise).
    """

    arm: str
    uplift: float
    ci_low: float
    ci_high: float
    std_error: float
    exposures: int
    control_exposures: int
    revenue: float
    control_revenue: float
    mean: float
    control_mean: float
    noise_share: float
    level: float = 0.95
    strata: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The estimate as a JSON-safe dict."""
        return asdict(self)


@dataclass(slots=True)
class _Arm:
    exposures: int = 0
    revenue: float = 0.0
    squares: float = 0.0
    noise_var_e: float = 0.0
    noise_var_s: float = 0.0
    max_contributions: int = 1
    user_cap: float = 0.0  # the most one user can spend in a cell, k * revenue_cap (0: unknown)

    def moments(self) -> tuple[float, float, float]:
        """(mean, sampling variance, noise variance) of revenue per exposure."""
        e = float(self.exposures)
        total = max(self.revenue, 0.0)  # noise can push a sum below zero
        mean = total / e
        k = self.max_contributions
        # The noised Q, brought back into what any data could give: at least S^2 / E
        # (Cauchy-Schwarz over at most E users), at most k cap S (each y_u <= k cap).
        top = self.user_cap * total if self.user_cap > 0 else math.inf
        squares = min(max(self.squares, total * total / e), top)
        sampling = max(squares + (k - 2) * total * total / e, 0.0)
        noise = self.noise_var_s + mean * mean * self.noise_var_e
        return mean, sampling / e**2, noise / e**2


def _number(row: Mapping[str, Any], key: str, index: int, *, default: float | None) -> float:
    value = row.get(key, default)
    if value is None and default is not None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        if key == "revenue_sq":
            raise MeasureError(
                f"report row {index} has no 'revenue_sq' (squared per-user revenue): it comes "
                "from a node older than revenue intervals; update the node, or measure "
                "conversion only, or leave out the days before the update"
            )
        raise MeasureError(f"report row {index} needs a number in {key!r}, got {value!r}")
    return float(value)


def _scale(row: Mapping[str, Any], key: str, index: int) -> float:
    value = _number(row, key, index, default=0.0)
    if value < 0:
        raise MeasureError(f"report row {index}: {key} must be >= 0, got {value!r}")
    return value


def _add(arm: _Arm, row: Mapping[str, Any], index: int) -> None:
    exposures = _number(row, "exposures", index, default=None)
    if exposures != int(exposures):
        raise MeasureError(f"report row {index}: 'exposures' must be a whole count")
    k = _number(row, "max_contributions", index, default=1.0)
    if k < 1 or k != int(k):
        raise MeasureError(f"report row {index}: max_contributions must be a whole number >= 1")
    arm.exposures += int(exposures)
    arm.revenue += _number(row, "revenue", index, default=None)
    arm.squares += _number(row, "revenue_sq", index, default=None)
    arm.noise_var_e += 2.0 * _scale(row, "count_noise_scale", index) ** 2
    arm.noise_var_s += 2.0 * _scale(row, "revenue_noise_scale", index) ** 2
    arm.max_contributions = max(arm.max_contributions, int(k))
    # Both scales are sensitivity / epsilon share: their ratio is the per-user bound k cap.
    sq_scale = _scale(row, "revenue_sq_noise_scale", index)
    rev_scale = _scale(row, "revenue_noise_scale", index)
    if rev_scale > 0 and sq_scale > 0:
        arm.user_cap = max(arm.user_cap, sq_scale / rev_scale)


def _aggregate(rows: Iterable[Mapping[str, Any]], experiment: str | None) -> dict[str, _Arm]:
    return _sum_arms(rows, experiment, _Arm, _add)


def _z(level: float) -> float:
    if not (isinstance(level, int | float) and 0.0 < level < 1.0):
        raise MeasureError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _estimate(name: str, arm: _Arm, control: _Arm, level: float) -> RevenueUpliftEstimate:
    for label, a in ((name, arm), ("control", control)):
        if a.exposures <= 0:
            raise MeasureError(
                f"arm {label!r} has no exposures (total {a.exposures}); an uplift needs "
                "exposures in both arms, so wait for more reports or pool more days"
            )
    mean, sampling, noise = arm.moments()
    control_mean, control_sampling, control_noise = control.moments()
    variance = sampling + noise + control_sampling + control_noise
    se = math.sqrt(variance)
    uplift = mean - control_mean
    z = _z(level)
    return RevenueUpliftEstimate(
        arm=name,
        uplift=uplift,
        ci_low=uplift - z * se,
        ci_high=uplift + z * se,
        std_error=se,
        exposures=arm.exposures,
        control_exposures=control.exposures,
        revenue=arm.revenue,
        control_revenue=control.revenue,
        mean=mean,
        control_mean=control_mean,
        noise_share=(noise + control_noise) / variance if variance > 0 else 0.0,
        level=level,
    )


def revenue_uplift_from_reports(
    rows: Iterable[Mapping[str, Any]],
    control_arm: str = "holdout",
    level: float = 0.95,
    *,
    experiment: str | None = None,
    strata_key: str | None = None,
) -> list[RevenueUpliftEstimate]:
    """Uplift in revenue per exposure of every arm over ``control_arm``, sorted by arm.

    Rows need ``exposures``, ``revenue`` and ``revenue_sq`` (rows from nodes older than
    revenue intervals lack the last and are refused with a message); the noise scales
    and ``max_contributions`` default to 0 and 1 (no noise, one decision per user).
    ``strata_key`` (e.g. ``"node_id"``) post-stratifies as in ``uplift_from_reports``.

    Examples
    --------
    >>> rows = [
    ...     {"arm": "holdout", "exposures": 1000, "revenue": 5000.0, "revenue_sq": 2.5e6},
    ...     {"arm": "pct10", "exposures": 1000, "revenue": 6000.0, "revenue_sq": 3.6e6},
    ... ]
    >>> est = revenue_uplift_from_reports(rows)[0]
    >>> est.arm, round(est.uplift, 2), round(est.std_error, 3)
    ('pct10', 1.0, 2.457)
    """
    _z(level)
    rows = list(rows)
    if strata_key is not None:
        return _stratified(rows, control_arm, level, experiment, strata_key)
    arms = _aggregate(rows, experiment)
    _check_arms(arms, control_arm)
    control = arms[control_arm]
    return [
        _estimate(name, arm, control, level)
        for name, arm in sorted(arms.items())
        if name != control_arm
    ]


def _stratified(
    rows: list[Mapping[str, Any]],
    control_arm: str,
    level: float,
    experiment: str | None,
    strata_key: str,
) -> list[RevenueUpliftEstimate]:
    strata, pooled, traffic = _split_strata(rows, experiment, strata_key, control_arm, _aggregate)
    return [
        _combine(arm_name, control_arm, strata, traffic, level, strata_key)
        for arm_name in sorted(a for a in pooled if a != control_arm)
    ]


def _combine(
    arm_name: str,
    control_arm: str,
    strata: Mapping[str, Mapping[str, _Arm]],
    traffic: Mapping[str, int],
    level: float,
    strata_key: str,
) -> RevenueUpliftEstimate:
    usable = {
        name: arms
        for name, arms in strata.items()
        if arms.get(arm_name, _Arm()).exposures > 0 and arms.get(control_arm, _Arm()).exposures > 0
    }
    total = sum(traffic[name] for name in usable)
    if not usable or total <= 0:
        raise MeasureError(
            f"arm {arm_name!r} has no stratum ({strata_key}) with exposures in both it "
            f"and the control {control_arm!r}; wait for more reports"
        )
    parts = [
        (traffic[name] / total, _estimate(arm_name, arms[arm_name], arms[control_arm], level))
        for name, arms in usable.items()
    ]
    uplift = sum(w * e.uplift for w, e in parts)
    variance = sum((w * e.std_error) ** 2 for w, e in parts)
    noise = sum((w * e.std_error) ** 2 * e.noise_share for w, e in parts)
    se = math.sqrt(variance)
    z = _z(level)
    return RevenueUpliftEstimate(
        arm=arm_name,
        uplift=uplift,
        ci_low=uplift - z * se,
        ci_high=uplift + z * se,
        std_error=se,
        exposures=sum(e.exposures for _, e in parts),
        control_exposures=sum(e.control_exposures for _, e in parts),
        revenue=sum(e.revenue for _, e in parts),
        control_revenue=sum(e.control_revenue for _, e in parts),
        mean=sum(w * e.mean for w, e in parts),
        control_mean=sum(w * e.control_mean for w, e in parts),
        noise_share=noise / variance if variance > 0 else 0.0,
        level=level,
        strata=len(parts),
    )
