"""A/B and multi-arm tests on unit-level data: each arm against a control, optionally CUPED.

Difference in means with the unpooled (Welch) standard error and a normal interval and
p-value: with the sample sizes of marketing tests the t and normal quantiles agree to the
fourth digit, and a normal reference keeps the core install free of SciPy. The relative
effect ``(mean_t - mean_c) / mean_c`` has a delta-method interval. CUPED (Deng et al. 2013)
replaces the outcome by ``y - theta (x - mean(x))`` with ``theta = cov(y, x) / var(x)``
over all rows of the test; the covariate must be measured before assignment, so the
adjusted means keep their expectation and only the variance shrinks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import MeasureError
from edgemark.measure._table import Codes, read_columns

FloatArray = npt.NDArray[np.float64]
_CONTROL_NAMES = ("control", "holdout", "0")


@dataclass(frozen=True, slots=True)
class ArmEffect:
    """Effect of ``arm`` on the outcome's mean against ``control``, with its interval.

    ``effect`` is absolute (difference in means), ``relative`` is ``effect / control_mean``
    (NaN when the control mean is 0). With CUPED, the means are of the adjusted outcome and
    ``variance_reduction`` is ``1 - se_cuped**2 / se_plain**2``.
    """

    arm: str
    control: str
    n: int
    control_n: int
    mean: float
    control_mean: float
    effect: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    relative: float
    relative_ci_low: float
    relative_ci_high: float
    level: float = 0.95
    variance_reduction: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The effect as a JSON-safe dict (NaN becomes None)."""
        return {k: _finite(v) for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class ABTestResult:
    """All arms' effects against one control; ``theta`` is CUPED's coefficient (or None)."""

    control: str
    effects: tuple[ArmEffect, ...]
    covariate: str | None = None
    theta: float | None = None
    arms: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe result."""
        return {
            "control": self.control,
            "covariate": self.covariate,
            "theta": self.theta,
            "arms": dict(self.arms),
            "effects": [e.to_dict() for e in self.effects],
        }


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _z(level: float) -> float:
    if not (isinstance(level, int | float) and 0.0 < level < 1.0):
        raise MeasureError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _pick_control(names: Sequence[str], control: str | None) -> int:
    if control is not None:
        if control not in names:
            raise MeasureError(
                f"control arm {control!r} does not occur in the treatment column "
                f"(arms: {', '.join(names)}); pass one of them with --control"
            )
        return list(names).index(control)
    for candidate in _CONTROL_NAMES:
        if candidate in names:
            return list(names).index(candidate)
    raise MeasureError(
        f"cannot tell which arm is the control among {', '.join(names)}; "
        "name it with --control (control=...)"
    )


def _moments(codes: npt.NDArray[np.int64], y: FloatArray, k: int) -> tuple[FloatArray, ...]:
    """Per-arm size, mean and sample variance (two-pass, so large means do not cancel)."""
    n = np.bincount(codes, minlength=k).astype(np.float64)
    mean = np.bincount(codes, weights=y, minlength=k) / np.maximum(n, 1.0)
    ss = np.bincount(codes, weights=(y - mean[codes]) ** 2, minlength=k)
    var = ss / np.maximum(n - 1.0, 1.0)
    return n, mean, var


def _cuped(y: FloatArray, x: FloatArray) -> tuple[FloatArray, float]:
    xc = x - x.mean()
    sxx = float(xc @ xc)
    if sxx <= 0.0:
        raise MeasureError("the CUPED covariate is constant; pick a covariate that varies")
    theta = float((y - y.mean()) @ xc) / sxx
    return y - theta * xc, theta


def ab_test(
    treatment: Sequence[object] | npt.NDArray[np.generic] | Codes,
    outcome: Sequence[float] | FloatArray,
    *,
    control: str | None = None,
    covariate: Sequence[float] | FloatArray | None = None,
    covariate_name: str | None = None,
    level: float = 0.95,
) -> ABTestResult:
    """Effect of every arm in ``treatment`` on the mean of ``outcome`` against ``control``.

    ``control`` defaults to an arm named ``control``, ``holdout`` or ``0``. With
    ``covariate`` (a pre-period measurement per row) the outcome is CUPED-adjusted.

    Examples
    --------
    >>> res = ab_test(["c", "c", "c", "t", "t", "t"], [1, 2, 3, 3, 4, 5], control="c")
    >>> e = res.effects[0]
    >>> e.arm, e.effect, round(e.std_error, 4), round(e.relative, 2)
    ('t', 2.0, 0.8165, 1.0)
    """
    z = _z(level)
    arms = treatment if isinstance(treatment, Codes) else Codes.of(treatment)
    y = np.asarray(outcome, dtype=np.float64)
    if y.shape != arms.codes.shape:
        raise MeasureError(f"treatment has {arms.codes.size} rows but outcome {y.size}")
    if not np.isfinite(y).all():
        raise MeasureError("the outcome holds NaN or infinite values; clean them first")
    c = _pick_control(arms.names, control)
    k = len(arms.names)
    n, mean, var = _moments(arms.codes, y, k)
    theta = None
    plain_var = var
    if covariate is not None:
        x = np.asarray(covariate, dtype=np.float64)
        if x.shape != y.shape or not np.isfinite(x).all():
            raise MeasureError("the covariate needs one finite number per row of the outcome")
        y, theta = _cuped(y, x)
        n, mean, var = _moments(arms.codes, y, k)
    effects = []
    for t in range(k):
        if t == c:
            continue
        _check_size(arms.names[t], int(n[t]), arms.names[c], int(n[c]))
        se = math.sqrt(var[t] / n[t] + var[c] / n[c])
        plain = math.sqrt(plain_var[t] / n[t] + plain_var[c] / n[c])
        effects.append(
            _effect(arms.names[t], arms.names[c], n, mean, var, t, c, se, z, level, plain)
        )
    counts = {name: int(n[i]) for i, name in enumerate(arms.names)}
    name = covariate_name if covariate_name else ("covariate" if theta is not None else None)
    return ABTestResult(arms.names[c], tuple(effects), name, theta, counts)


def _check_size(arm: str, n: int, control: str, n_c: int) -> None:
    if n < 2 or n_c < 2:
        raise MeasureError(
            f"arm {arm!r} ({n} rows) or control {control!r} ({n_c} rows) has fewer than 2 "
            "rows; an interval needs at least 2 per arm"
        )


def _effect(
    arm: str,
    control: str,
    n: FloatArray,
    mean: FloatArray,
    var: FloatArray,
    t: int,
    c: int,
    se: float,
    z: float,
    level: float,
    plain_se: float,
) -> ArmEffect:
    effect = float(mean[t] - mean[c])
    if se > 0:
        p = 2.0 * NormalDist().cdf(-abs(effect) / se)
    else:
        p = 1.0 if effect == 0 else 0.0
    m_c = float(mean[c])
    if m_c != 0.0:
        relative = effect / m_c
        rel_se = math.sqrt(var[t] / n[t] / m_c**2 + mean[t] ** 2 * var[c] / n[c] / m_c**4)
    else:
        relative = rel_se = math.nan
    return ArmEffect(
        arm=arm,
        control=control,
        n=int(n[t]),
        control_n=int(n[c]),
        mean=float(mean[t]),
        control_mean=m_c,
        effect=effect,
        std_error=se,
        ci_low=effect - z * se,
        ci_high=effect + z * se,
        p_value=p,
        relative=relative,
        relative_ci_low=relative - z * rel_se,
        relative_ci_high=relative + z * rel_se,
        level=level,
        variance_reduction=1.0 - se**2 / plain_se**2 if plain_se > 0 else 0.0,
    )


def ab_test_csv(
    path: Path,
    treatment: str,
    outcome: str,
    *,
    control: str | None = None,
    covariate: str | None = None,
    level: float = 0.95,
) -> ABTestResult:
    """``ab_test`` on the columns of a CSV file (one row per unit)."""
    numbers = [outcome] if covariate is None else [outcome, covariate]
    cols = read_columns(path, numbers=numbers, text=[treatment], what="data")
    return ab_test(
        cols.text[treatment],
        cols.numbers[outcome],
        control=control,
        covariate=None if covariate is None else cols.numbers[covariate],
        covariate_name=covariate,
        level=level,
    )
