"""Uplift of treatment arms over a control arm, from counts that may carry Laplace noise.

The interval is Wald (normal approximation) because the noise variance adds to the sampling
variance term by term, which score intervals (Wilson, Newcombe) cannot absorb. For an arm
with exposures E and conversions C, each a sum over m report rows that were noised with
independent Laplace noise of scale b_r (variance 2 b_r^2 per noised count), write
V = sum_r 2 b_r^2. The rate is p^ = (C + N_c) / (E + N_e) with N_c, N_e the summed noises.
A first-order expansion around (C, E) gives p^ ~ p + (dC - p dE) / E, and with
Var(dC) = E p (1 - p) + V (binomial sampling plus noise) and Var(dE) = V (exposures are
fixed by design, only noised), independent of each other:

    Var(p^) ~ [p (1 - p) E + V (1 + p^2)] / E^2,

which for a common scale b is [p (1 - p) E + m 2 b^2 (1 + p^2)] / E^2. The uplift
p^_t - p^_c has the sum of the two arms' variances (the arms are independent samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Protocol, TypeVar

from edgemark.errors import MeasureError

_A = TypeVar("_A")


class _Counted(Protocol):
    exposures: int


_C = TypeVar("_C", bound=_Counted)


@dataclass(frozen=True, slots=True)
class UpliftEstimate:
    """Absolute uplift in conversion rate of ``arm`` over the control, with its interval.

    ``rate`` and ``control_rate`` are conversions / exposures of the (possibly noised)
    counts; ``std_error`` is the standard error of ``uplift`` and ``level`` the interval's
    confidence level.
    """

    arm: str
    uplift: float
    ci_low: float
    ci_high: float
    exposures: int
    conversions: int
    control_exposures: int
    control_conversions: int
    rate: float
    control_rate: float
    std_error: float = math.nan
    level: float = 0.95
    strata: int = 1

    def to_dict(self) -> dict[str, Any]:
        """The estimate as a JSON-safe dict."""
        return asdict(self)


def rate_variance(conversions: float, exposures: float, noise_var: float = 0.0) -> float:
    """Delta-method variance of conversions/exposures when each count carries noise of
    variance ``noise_var`` (0: plain binomial ``p (1 - p) / E``)."""
    p = min(max(conversions / exposures, 0.0), 1.0)  # noise can push the ratio outside
    return (p * (1.0 - p) * exposures + noise_var * (1.0 + p * p)) / exposures**2


def _z(level: float) -> float:
    if not (isinstance(level, int | float) and 0.0 < level < 1.0):
        raise MeasureError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def two_proportion_uplift(
    conv_t: int,
    n_t: int,
    conv_c: int,
    n_c: int,
    level: float = 0.95,
    *,
    noise_var_t: float = 0.0,
    noise_var_c: float = 0.0,
    arm: str = "treatment",
) -> UpliftEstimate:
    """Difference in conversion rates, treatment minus control, with a Wald interval.

    ``noise_var_t`` / ``noise_var_c`` are the variances of the total noise added to each
    of that arm's two counts (sum of ``2 b**2`` over its noised rows); see the module
    docstring for the variance.

    Examples
    --------
    >>> est = two_proportion_uplift(150, 1000, 100, 1000)
    >>> round(est.uplift, 3), round(est.ci_low, 4), round(est.ci_high, 4)
    (0.05, 0.0211, 0.0789)
    """
    z = _z(level)
    for name, n in ((arm, n_t), ("control", n_c)):
        if n <= 0:
            raise MeasureError(
                f"arm {name!r} has no exposures (total {n}); an uplift needs exposures in "
                "both arms, so wait for more reports or pool more days"
            )
    for name, value in (("noise_var_t", noise_var_t), ("noise_var_c", noise_var_c)):
        if not (math.isfinite(value) and value >= 0):
            raise MeasureError(f"{name} must be a finite variance >= 0, got {value!r}")
    rate, control_rate = conv_t / n_t, conv_c / n_c
    se = math.sqrt(
        rate_variance(conv_t, n_t, noise_var_t) + rate_variance(conv_c, n_c, noise_var_c)
    )
    uplift = rate - control_rate
    return UpliftEstimate(
        arm=arm,
        uplift=uplift,
        ci_low=uplift - z * se,
        ci_high=uplift + z * se,
        exposures=n_t,
        conversions=conv_t,
        control_exposures=n_c,
        control_conversions=conv_c,
        rate=rate,
        control_rate=control_rate,
        std_error=se,
        level=level,
    )


@dataclass(slots=True)
class _Arm:
    exposures: int = 0
    conversions: int = 0
    noise_var: float = 0.0


def _count(row: Mapping[str, Any], key: str, index: int) -> int:
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MeasureError(f"report row {index} needs a number in {key!r}, got {value!r}")
    if float(value) != int(value):
        raise MeasureError(f"report row {index}: {key!r} must be a whole count, got {value!r}")
    return int(value)


def _scale(row: Mapping[str, Any], index: int) -> float:
    value = row.get("count_noise_scale", 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise MeasureError(
            f"report row {index}: count_noise_scale must be a number >= 0, got {value!r}"
        )
    return float(value)


def _add(arm: _Arm, row: Mapping[str, Any], index: int) -> None:
    arm.exposures += _count(row, "exposures", index)
    arm.conversions += _count(row, "conversions", index)
    arm.noise_var += 2.0 * _scale(row, index) ** 2


def _aggregate(rows: Iterable[Mapping[str, Any]], experiment: str | None) -> dict[str, _Arm]:
    return _sum_arms(rows, experiment, _Arm, _add)


def _sum_arms(
    rows: Iterable[Mapping[str, Any]],
    experiment: str | None,
    new_arm: Callable[[], _A],
    add: Callable[[_A, Mapping[str, Any], int], None],
) -> dict[str, _A]:
    """Report rows of one experiment summed per arm by ``add`` (shared with revenue uplift)."""
    arms: dict[str, _A] = {}
    experiments: set[str] = set()
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise MeasureError(f"report row {index} must be a mapping, got {type(row).__name__}")
        if experiment is not None and row.get("experiment") != experiment:
            continue
        if "experiment" in row:
            experiments.add(str(row["experiment"]))
        name = row.get("arm")
        if not isinstance(name, str) or not name:
            raise MeasureError(f"report row {index} needs an 'arm' name, got {name!r}")
        if name not in arms:
            arms[name] = new_arm()
        add(arms[name], row, index)
    if len(experiments) > 1:
        raise MeasureError(
            f"report rows mix experiments {sorted(experiments)}; measure one at a time "
            "(pass experiment=...)"
        )
    return arms


def uplift_from_reports(
    rows: Iterable[Mapping[str, Any]],
    control_arm: str = "holdout",
    level: float = 0.95,
    *,
    experiment: str | None = None,
    strata_key: str | None = None,
) -> list[UpliftEstimate]:
    """Uplift of every arm over ``control_arm`` from (noised) report rows, sorted by arm.

    Rows are summed per arm; ``count_noise_scale`` (Laplace ``b`` on exposures and on
    conversions, 0 or missing: no noise) widens the interval by ``2 b**2`` per row and count.
    Rows from several experiments are refused unless ``experiment`` picks one.

    With ``strata_key`` (e.g. ``"node_id"``) the uplift is estimated within each stratum
    and averaged with the strata's traffic shares (post-stratification). Use it when
    arms were allocated differently per stratum, as per-node Thompson samplers do: a
    pooled comparison would then mix stratum differences into the uplift. A stratum in
    which the arm or the control has no exposures is left out, and ``strata`` says how
    many were used.

    Examples
    --------
    >>> rows = [
    ...     {"arm": "holdout", "exposures": 1000, "conversions": 100, "count_noise_scale": 2.0},
    ...     {"arm": "pct10", "exposures": 1000, "conversions": 150, "count_noise_scale": 2.0},
    ... ]
    >>> [(e.arm, round(e.uplift, 3)) for e in uplift_from_reports(rows)]
    [('pct10', 0.05)]
    """
    _z(level)
    rows = list(rows)
    if strata_key is not None:
        return _stratified(rows, control_arm, level, experiment, strata_key)
    arms = _aggregate(rows, experiment)
    _check_arms(arms, control_arm)
    control = arms[control_arm]
    return [
        two_proportion_uplift(
            arm.conversions,
            arm.exposures,
            control.conversions,
            control.exposures,
            level,
            noise_var_t=arm.noise_var,
            noise_var_c=control.noise_var,
            arm=name,
        )
        for name, arm in sorted(arms.items())
        if name != control_arm
    ]


def _check_arms(arms: Mapping[str, object], control_arm: str) -> None:
    """The control arm and at least one other arm have rows (shared with revenue uplift)."""
    if control_arm not in arms:
        seen = ", ".join(sorted(arms)) or "none"
        raise MeasureError(
            f"no report rows for the control arm {control_arm!r} (arms seen: {seen}); "
            "keep a holdout, or name the control arm (control_arm=... / --control)"
        )
    if len(arms) == 1:
        raise MeasureError(f"only the control arm {control_arm!r} has rows; nothing to compare")


def _by_stratum(
    rows: list[Mapping[str, Any]], strata_key: str
) -> dict[str, list[Mapping[str, Any]]]:
    """Report rows grouped by their ``strata_key`` value (shared with revenue uplift)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or strata_key not in row:
            raise MeasureError(f"report row {index} has no stratum column {strata_key!r}")
        groups.setdefault(str(row[strata_key]), []).append(row)
    return groups


def _split_strata(
    rows: list[Mapping[str, Any]],
    experiment: str | None,
    strata_key: str,
    control_arm: str,
    aggregate: Callable[[Iterable[Mapping[str, Any]], str | None], dict[str, _C]],
) -> tuple[dict[str, dict[str, _C]], dict[str, _C], dict[str, int]]:
    """Arms per stratum, pooled arms (checked) and each stratum's exposures (shared with
    revenue uplift)."""
    groups = _by_stratum(rows, strata_key)
    strata = {name: aggregate(group, experiment) for name, group in groups.items()}
    pooled = aggregate(rows, experiment)
    _check_arms(pooled, control_arm)
    traffic = {
        name: max(sum(a.exposures for a in arms.values()), 0) for name, arms in strata.items()
    }
    return strata, pooled, traffic


def _stratified(
    rows: list[Mapping[str, Any]],
    control_arm: str,
    level: float,
    experiment: str | None,
    strata_key: str,
) -> list[UpliftEstimate]:
    strata, pooled, traffic = _split_strata(rows, experiment, strata_key, control_arm, _aggregate)
    z = _z(level)
    estimates = []
    for arm_name in sorted(a for a in pooled if a != control_arm):
        usable = {
            name: arms
            for name, arms in strata.items()
            if arms.get(arm_name, _Arm()).exposures > 0
            and arms.get(control_arm, _Arm()).exposures > 0
        }
        total = sum(traffic[name] for name in usable)
        if not usable or total <= 0:
            raise MeasureError(
                f"arm {arm_name!r} has no stratum ({strata_key}) with exposures in both it "
                f"and the control {control_arm!r}; wait for more reports"
            )
        parts = [
            (
                traffic[name] / total,
                two_proportion_uplift(
                    arms[arm_name].conversions,
                    arms[arm_name].exposures,
                    arms[control_arm].conversions,
                    arms[control_arm].exposures,
                    level,
                    noise_var_t=arms[arm_name].noise_var,
                    noise_var_c=arms[control_arm].noise_var,
                    arm=arm_name,
                ),
            )
            for name, arms in usable.items()
        ]
        uplift = sum(w * e.uplift for w, e in parts)
        se = math.sqrt(sum((w * e.std_error) ** 2 for w, e in parts))
        rate = sum(w * e.rate for w, e in parts)
        control_rate = sum(w * e.control_rate for w, e in parts)
        estimates.append(
            UpliftEstimate(
                arm=arm_name,
                uplift=uplift,
                ci_low=uplift - z * se,
                ci_high=uplift + z * se,
                exposures=sum(e.exposures for _, e in parts),
                conversions=sum(e.conversions for _, e in parts),
                control_exposures=sum(e.control_exposures for _, e in parts),
                control_conversions=sum(e.control_conversions for _, e in parts),
                rate=rate,
                control_rate=control_rate,
                std_error=se,
                level=level,
                strata=len(parts),
            )
        )
    return estimates
