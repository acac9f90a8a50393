"""Budget allocation across channels from an MMM's posterior response curves.

At a steady weekly spend ``x`` the normalised geometric adstock equals ``x``, so a channel
adds ``beta * sat(x / scale, lam)`` per week (logistic saturation, ``beta`` in target units).
Each curve is concave, and so is their posterior mean; the split of a weekly budget that
maximises the expected total therefore equalises marginal returns across the channels
that get money (a Lagrange multiplier found by bisection, each channel's spend at that
multiplier by bisection too). The expected outcome's interval comes from evaluating every
posterior draw at the chosen split. Pure numpy: the curves can come from a saved file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import MeasureError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ResponseCurves:
    """Posterior draws (rows) of each channel's (columns) weekly response parameters."""

    channels: tuple[str, ...]
    scale: FloatArray  # spend scale per channel (the MMM's max spend)
    beta: FloatArray  # (draws, channels), target units per week at saturation
    lam: FloatArray  # (draws, channels)
    current: FloatArray  # mean weekly spend per channel in the fitted data

    def response(self, spend: FloatArray) -> FloatArray:
        """Weekly contribution per draw and channel at weekly ``spend`` per channel."""
        u = self.lam * (np.asarray(spend, dtype=np.float64) / self.scale)[None, :]
        out: FloatArray = self.beta * (1.0 - np.exp(-u)) / (1.0 + np.exp(-u))
        return out

    def marginal(self, spend: FloatArray) -> FloatArray:
        """Posterior-mean extra weekly outcome per extra unit of spend, per channel."""
        u = self.lam * (np.asarray(spend, dtype=np.float64) / self.scale)[None, :]
        e = np.exp(-u)
        out: FloatArray = (self.beta * 2.0 * self.lam * e / (1.0 + e) ** 2).mean(0) / self.scale
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (lists of floats)."""
        return {
            "channels": list(self.channels),
            "scale": self.scale.tolist(),
            "beta": self.beta.tolist(),
            "lam": self.lam.tolist(),
            "current": self.current.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResponseCurves:
        """Inverse of ``to_dict``; raises ``MeasureError`` on a malformed payload."""
        try:
            channels = tuple(str(c) for c in data["channels"])
            arrays = [np.asarray(data[k], dtype=np.float64) for k in ("scale", "beta", "lam")]
            current = np.asarray(data["current"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise MeasureError(f"response curves are malformed ({exc}); refit with mmm") from None
        scale, beta, lam = arrays
        c = len(channels)
        if (
            scale.shape != (c,)
            or current.shape != (c,)
            or beta.ndim != 2
            or beta.shape != lam.shape
        ):
            raise MeasureError("response curves have inconsistent shapes; refit with mmm")
        if beta.shape[1] != c or not (scale > 0).all():
            raise MeasureError("response curves need one column per channel and scales > 0")
        return cls(channels, scale, beta, lam, current)

    def save(self, path: Path) -> None:
        """Write the curves as JSON."""
        Path(path).write_text(json.dumps(self.to_dict()) + "\n")

    @classmethod
    def load(cls, path: Path) -> ResponseCurves:
        """Read curves written by ``save`` (or ``edgemark measure mmm --save-curves``)."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except OSError as exc:
            raise MeasureError(f"cannot read response curves {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise MeasureError(f"response curves {path} are not JSON ({exc.msg})") from None


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """The best weekly split and its expected outcome, next to the current mix at the same
    total (``current`` scaled to ``total``); intervals are equal-tailed at ``level``."""

    total: float
    spend: dict[str, float]
    expected: float
    low: float
    high: float
    current_spend: dict[str, float]
    current_expected: float
    current_low: float
    current_high: float
    level: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)


def _spend_at(curves: ResponseCurves, mu: float, upper: FloatArray) -> FloatArray:
    """Each channel's spend where its marginal return falls to ``mu`` (within [0, upper])."""
    lo, hi = np.zeros_like(upper), upper.copy()
    for _ in range(60):
        mid = (lo + hi) / 2.0
        above = curves.marginal(mid) > mu
        lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
    return (lo + hi) / 2.0


def _summary(curves: ResponseCurves, spend: FloatArray, level: float) -> tuple[float, ...]:
    totals = curves.response(spend).sum(axis=1)
    tail = (1.0 - level) / 2.0
    return (
        float(totals.mean()),
        float(np.quantile(totals, tail)),
        float(np.quantile(totals, 1 - tail)),
    )


def optimize_budget(
    curves: ResponseCurves,
    total: float,
    *,
    upper: Mapping[str, float] | None = None,
    level: float = 0.9,
) -> BudgetPlan:
    """The weekly split of ``total`` that maximises the expected media contribution.

    ``upper`` caps some channels' weekly spend (e.g. inventory limits).

    Examples
    --------
    >>> curves = ResponseCurves(("a", "b"), np.array([1.0, 1.0]), np.array([[2.0, 1.0]]),
    ...                         np.array([[1.0, 1.0]]), np.array([1.0, 1.0]))
    >>> plan = optimize_budget(curves, 2.0)
    >>> plan.spend["a"] > plan.spend["b"]
    True
    """
    if not (total > 0 and np.isfinite(total)):
        raise MeasureError(f"the total budget must be a positive number, got {total!r}")
    if not 0 < level < 1:
        raise MeasureError(f"level must be between 0 and 1, got {level!r}")
    unknown = sorted(set(upper or {}) - set(curves.channels))
    if unknown:
        raise MeasureError(f"no channel(s) {unknown} in the curves ({', '.join(curves.channels)})")
    caps = np.array([float((upper or {}).get(c, total)) for c in curves.channels])
    if caps.sum() < total:
        raise MeasureError(
            f"the caps allow {caps.sum():g} in total, less than the budget {total:g}"
        )
    lo, hi = 0.0, float(curves.marginal(np.zeros(len(curves.channels))).max())
    for _ in range(60):  # more spend at a lower multiplier: find where it adds up to total
        mu = (lo + hi) / 2.0
        if _spend_at(curves, mu, caps).sum() > total:
            lo = mu
        else:
            hi = mu
    spend = _spend_at(curves, (lo + hi) / 2.0, caps)
    spend *= total / spend.sum()  # close the last bisection gap exactly
    current = curves.current * (total / curves.current.sum()) if curves.current.sum() > 0 else spend
    best, cur = _summary(curves, spend, level), _summary(curves, current, level)
    return BudgetPlan(
        total=float(total),
        spend=dict(zip(curves.channels, spend.tolist(), strict=True)),
        expected=best[0],
        low=best[1],
        high=best[2],
        current_spend=dict(zip(curves.channels, current.tolist(), strict=True)),
        current_expected=cur[0],
        current_low=cur[1],
        current_high=cur[2],
        level=level,
    )
