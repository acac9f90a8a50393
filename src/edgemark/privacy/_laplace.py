"""Laplace noise for counts and sums through OpenDP, with the scale derived from epsilon.

Counts use OpenDP's discrete Laplace on integers (variance 1/(2 sinh^2(1/(2b))), a little
below the continuous 2 b^2, so analyses that assume 2 b^2 are slightly conservative); sums
use the continuous Laplace on floats. Measurements are cached per (scale, type): building
one costs far more than sampling from it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import opendp.prelude as dp

from edgemark.errors import PrivacyError

dp.enable_features("contrib")


def noise_scale(epsilon: float, sensitivity: float) -> float:
    """The Laplace scale ``b = sensitivity / epsilon`` that gives ``epsilon``-DP.

    Examples
    --------
    >>> noise_scale(0.5, 1)
    2.0
    """
    _check(epsilon, sensitivity)
    return float(sensitivity) / float(epsilon)


def _check(epsilon: float, sensitivity: float) -> None:
    if not (isinstance(epsilon, int | float) and math.isfinite(epsilon) and epsilon > 0):
        raise PrivacyError(
            f"epsilon must be a finite number > 0, got {epsilon!r}; "
            "a smaller epsilon adds more noise, epsilon <= 0 promises the impossible"
        )
    if not (isinstance(sensitivity, int | float) and math.isfinite(sensitivity)):
        raise PrivacyError(f"sensitivity must be a finite number > 0, got {sensitivity!r}")
    if sensitivity <= 0:
        raise PrivacyError(
            f"sensitivity must be > 0, got {sensitivity!r}; it is the most one person can "
            "change the value (bound contributions first)"
        )


@lru_cache(maxsize=256)
def _measurement(scale: float, integer: bool) -> Any:
    if integer:
        domain, metric = dp.atom_domain(T=int), dp.absolute_distance(T=int)
    else:
        domain, metric = dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float)
    return dp.m.make_laplace(domain, metric, scale=scale)


def count_mechanism(epsilon: float, sensitivity: int = 1) -> Any:
    """The OpenDP measurement behind ``laplace_count`` (cached); ``.map(sensitivity)``
    is the epsilon it spends."""
    if isinstance(sensitivity, bool) or not isinstance(sensitivity, int):
        raise PrivacyError(f"count sensitivity must be a whole number, got {sensitivity!r}")
    return _measurement(noise_scale(epsilon, sensitivity), True)


def sum_mechanism(epsilon: float, sensitivity: float) -> Any:
    """The OpenDP measurement behind ``laplace_sum`` (cached)."""
    return _measurement(noise_scale(epsilon, sensitivity), False)


def laplace_count(value: int, epsilon: float, sensitivity: int = 1) -> int:
    """``value`` plus discrete Laplace noise of scale ``sensitivity / epsilon``.

    Examples
    --------
    >>> isinstance(laplace_count(10, epsilon=1.0), int)
    True
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise PrivacyError(f"laplace_count needs an int value, got {type(value).__name__}")
    return int(count_mechanism(epsilon, sensitivity)(value))


def laplace_sum(value: float, epsilon: float, sensitivity: float) -> float:
    """``value`` plus Laplace noise of scale ``sensitivity / epsilon``.

    ``sensitivity`` is the most one person can move the sum: clip each contribution
    (e.g. revenue to ``revenue_cap``) before summing.
    """
    if not (isinstance(value, int | float) and math.isfinite(value)):
        raise PrivacyError(f"laplace_sum needs a finite number, got {value!r}")
    return float(sum_mechanism(epsilon, sensitivity)(float(value)))
