"""Ground truth of the simulated world: what an experiment on visits should measure.

The estimand is visit-weighted: a customer who visits twice as often counts twice as much,
which is exactly what a randomised experiment over visits estimates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.sim._config import OfferSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _weighted(values: FloatArray, weights: FloatArray) -> float | None:
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0 else None


def truth_summary(
    probs: FloatArray,
    weights: FloatArray,
    segment: IntArray,
    segments: tuple[str, ...],
    offers: tuple[OfferSpec, ...],
) -> dict[str, Any]:
    """Visit-weighted rates and uplifts from per-customer purchase probabilities.

    ``probs[:, 0]`` is p(buy | no offer), ``probs[:, k]`` p(buy | offers[k-1]); ``weights``
    the expected visits per day of each customer (to the population of interest).
    Segments without any weight report ``None``.
    """
    masks = [segment == j for j in range(len(segments))]
    control = probs[:, 0]
    out_offers: dict[str, dict[str, Any]] = {}
    for k, offer in enumerate(offers, start=1):
        diff = probs[:, k] - control
        out_offers[offer.id] = {
            "name": offer.name,
            "rate": _weighted(probs[:, k], weights),
            "uplift": _weighted(diff, weights),
            "by_segment": {
                s: _weighted(diff[m], weights[m]) for s, m in zip(segments, masks, strict=True)
            },
        }
    n = max(len(segment), 1)
    total_weight = float(weights.sum())
    return {
        "control_rate": _weighted(control, weights),
        "expected_visits_per_day": total_weight,
        "offers": out_offers,
        "best_offer": max(out_offers, key=lambda o: out_offers[o]["uplift"] or 0.0, default=None),
        "segments": {s: float(m.sum() / n) for s, m in zip(segments, masks, strict=True)},
        "visit_shares": {
            s: (float(weights[m].sum() / total_weight) if total_weight > 0 else 0.0)
            for s, m in zip(segments, masks, strict=True)
        },
    }


def expected_clipped_lognormal(mean: FloatArray, sigma: float, cap: float | None) -> FloatArray:
    """``E[min(X, cap)]`` elementwise for lognormal ``X`` with mean ``mean`` and log-sd ``sigma``.

    With ``m = ln(mean) - sigma^2 / 2``: ``mean * Phi((ln cap - m - sigma^2) / sigma)
    + cap * (1 - Phi((ln cap - m) / sigma))``; ``cap`` None gives ``mean``.

    >>> float(expected_clipped_lognormal(np.array([10.0]), 0.5, None)[0])
    10.0
    >>> round(float(expected_clipped_lognormal(np.array([10.0]), 0.5, 10.0)[0]), 3)
    8.026
    """
    mean = np.asarray(mean, dtype=np.float64)
    if cap is None:
        return mean.copy()
    phi = np.vectorize(lambda x: 0.5 * (1.0 + math.erf(x / math.sqrt(2.0))), otypes=[float])
    safe = np.maximum(mean, 1e-300)
    m = np.log(safe) - sigma * sigma / 2.0
    out = safe * phi((math.log(cap) - m - sigma * sigma) / sigma) + cap * (
        1.0 - phi((math.log(cap) - m) / sigma)
    )
    return np.where(mean > 0, out, 0.0)
