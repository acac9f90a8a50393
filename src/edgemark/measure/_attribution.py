"""Multi-touch attribution of conversions (and value) to channels, all models side by side.

Rule-based models share each journey's conversions among its touches by position: first
touch, last touch, linear (equal shares), time decay (a touch ``k`` steps before the
conversion weighs ``2 ** (-k / half_life)``; paths carry no timestamps, so steps stand in
for time) and position based (40% first, 40% last, 20% shared by the touches between; one
touch gets all, two get half each). Data-driven models: Markov removal effects
(``_markov``) and Shapley values (``_shapley``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import MeasureError
from edgemark.measure._markov import MarkovResult, markov_attribution
from edgemark.measure._paths import Paths, read_paths
from edgemark.measure._shapley import ShapleyResult, shapley_attribution

FloatArray = npt.NDArray[np.float64]
RULES: tuple[str, ...] = ("first_touch", "last_touch", "linear", "time_decay", "position_based")


def _touch_shares(paths: Paths, rule: str, half_life: float) -> FloatArray:
    """Each touch's share of its journey's conversions under ``rule`` (shares sum to 1)."""
    pos = paths.position
    length = paths.lengths[paths.path_of_touch].astype(np.float64)
    share: FloatArray
    if rule == "first_touch":
        share = (pos == 0).astype(np.float64)
    elif rule == "last_touch":
        share = (pos == length - 1).astype(np.float64)
    elif rule == "linear":
        share = 1.0 / length
    elif rule == "time_decay":
        decay = 2.0 ** (-1.0 / half_life)
        share = decay ** (length - 1 - pos) * (1.0 - decay) / (1.0 - decay**length)
    elif rule == "position_based":
        ends = (pos == 0) | (pos == length - 1)
        middle = 0.2 / np.maximum(length - 2, 1)
        share = np.where(length <= 2, 1.0 / length, np.where(ends, 0.4, middle))
    else:
        raise MeasureError(f"unknown attribution rule {rule!r}; known: {', '.join(RULES)}")
    return share


def rule_attribution(
    paths: Paths, rule: str, *, half_life: float = 2.0, weights: FloatArray | None = None
) -> dict[str, float]:
    """Conversions (or ``weights`` per path, e.g. value) per channel under a rule.

    Examples
    --------
    >>> p = Paths.from_strings(["a > b > c", "c"], [10, 1], [0, 0])
    >>> rule_attribution(p, "position_based")
    {'a': 4.0, 'b': 2.0, 'c': 5.0}
    """
    if not half_life > 0:
        raise MeasureError(f"half_life must be > 0 touches, got {half_life!r}")
    per_path = paths.conversions if weights is None else weights
    shares = _touch_shares(paths, rule, half_life) * per_path[paths.path_of_touch]
    credit = np.bincount(paths.flat, weights=shares, minlength=len(paths.channels))
    return dict(zip(paths.channels, credit.tolist(), strict=True))


@dataclass(frozen=True, slots=True)
class AttributionResult:
    """Every model's conversions (and value) per channel, plus the Markov and Shapley detail."""

    channels: tuple[str, ...]
    journeys: float
    total_conversions: float
    total_value: float | None
    conversions: dict[str, dict[str, float]]  # model -> channel -> conversions
    value: dict[str, dict[str, float]] | None
    markov: tuple[MarkovResult, ...]
    shapley: ShapleyResult

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "channels": list(self.channels),
            "journeys": self.journeys,
            "total_conversions": self.total_conversions,
            "total_value": self.total_value,
            "conversions": self.conversions,
            "value": self.value,
            "markov": [m.to_dict() for m in self.markov],
            "shapley": self.shapley.to_dict(),
        }


def attribute(
    paths: Paths,
    *,
    orders: Sequence[int] = (1, 2, 3),
    half_life: float = 2.0,
    permutations: int = 1000,
    seed: int = 0,
) -> AttributionResult:
    """All models on ``paths``: the five rules, Markov of each order, Shapley."""
    if paths.conversions.sum() <= 0:
        raise MeasureError("the paths have no conversions; there is nothing to attribute")
    markov = tuple(markov_attribution(paths, order) for order in orders)
    shapley = shapley_attribution(paths, permutations=permutations, seed=seed)
    conversions = {r: rule_attribution(paths, r, half_life=half_life) for r in RULES}
    conversions.update({f"markov_{m.order}": m.conversions for m in markov})
    conversions["shapley"] = shapley.conversions
    value: dict[str, dict[str, float]] | None = None
    if paths.values is not None:
        value = {
            r: rule_attribution(paths, r, half_life=half_life, weights=paths.values) for r in RULES
        }
        value.update({f"markov_{m.order}": m.value or {} for m in markov})
        value["shapley"] = shapley.value or {}
    return AttributionResult(
        channels=paths.channels,
        journeys=float((paths.conversions + paths.nulls).sum()),
        total_conversions=float(paths.conversions.sum()),
        total_value=None if paths.values is None else float(paths.values.sum()),
        conversions=conversions,
        value=value,
        markov=markov,
        shapley=shapley,
    )


def attribution_csv(
    path: Path,
    *,
    sep: str = ">",
    orders: Sequence[int] = (1, 2, 3),
    half_life: float = 2.0,
    permutations: int = 1000,
    seed: int = 0,
) -> AttributionResult:
    """``attribute`` on a paths CSV (``path``, ``total_conversions``, ``total_null``,
    optional ``total_conversion_value``)."""
    return attribute(
        read_paths(path, sep=sep),
        orders=orders,
        half_life=half_life,
        permutations=permutations,
        seed=seed,
    )
