"""Shapley attribution over channels: exact up to 12 channels, sampled beyond with an error.

The worth of a coalition S of channels is the conversions (or value) of the journeys whose
set of channels lies within S: ``v(S) = sum over paths p with channels(p) <= S of conv_p``.
It is the sum of one unanimity game per channel set, so its Shapley value has the closed
form "each journey's conversions shared equally among its distinct channels" (Zhao et al.
2018, "simplified Shapley"); the exact and sampled computations below are the generic
ones and tests check them against that closed form. Exact: all ``2**n`` coalitions (worths by
a subset-sum transform). Sampled: random channel orders; the channel that completes a
journey's set in the order gets its conversions; each channel's standard error is that
of its mean over the orders. Both give shares that sum to the total conversions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import MeasureError
from edgemark.measure._paths import Paths

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
EXACT_MAX_CHANNELS = 12
_MAX_CHANNELS = 62  # channel sets are int64 bit masks


@dataclass(frozen=True, slots=True)
class ShapleyResult:
    """Shapley conversions (and value) per channel; ``std_error`` is 0 when exact."""

    conversions: dict[str, float]
    std_error: dict[str, float]
    exact: bool
    permutations: int = 0
    value: dict[str, float] | None = None
    value_std_error: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "method": "exact" if self.exact else f"sampled ({self.permutations} orders)",
            "worth": "conversions of journeys whose channel set lies within the coalition",
            "conversions": dict(self.conversions),
            "std_error": dict(self.std_error),
            "value": self.value,
            "value_std_error": self.value_std_error,
        }


def channel_sets(paths: Paths) -> tuple[IntArray, FloatArray, FloatArray]:
    """Distinct channel-set bit masks with their summed conversions and value."""
    n = len(paths.channels)
    if n > _MAX_CHANNELS:
        raise MeasureError(
            f"Shapley attribution supports at most {_MAX_CHANNELS} channels, got {n}; "
            "group rare channels (e.g. into 'other') first"
        )
    bits = np.left_shift(np.int64(1), paths.flat)
    masks = np.bitwise_or.reduceat(bits, paths.starts)
    keys, inverse = np.unique(masks, return_inverse=True)
    inverse = inverse.reshape(-1)
    conv = np.bincount(inverse, weights=paths.conversions, minlength=keys.size)
    values = paths.values if paths.values is not None else np.zeros(paths.lengths.size)
    value = np.bincount(inverse, weights=values, minlength=keys.size)
    return keys.astype(np.int64), conv.astype(np.float64), value.astype(np.float64)


def _exact(n: int, masks: IntArray, worth: FloatArray) -> FloatArray:
    v = np.zeros(1 << n)
    np.add.at(v, masks, worth)
    full = np.arange(1 << n)
    for i in range(n):  # subset-sum: v[S] = sum of worths of sets within S
        has = (full >> i) & 1 == 1
        v[has] += v[full[has] ^ (1 << i)]
    size = np.array([bin(m).count("1") for m in range(1 << n)])
    weight = np.array(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    )
    phi = np.empty(n)
    for i in range(n):
        without = full[(full >> i) & 1 == 0]
        phi[i] = float((weight[size[without]] * (v[without | (1 << i)] - v[without])).sum())
    return phi


def _sampled(
    n: int, masks: IntArray, worths: FloatArray, permutations: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    """Mean and standard error over random orders of each channel's marginal worth.

    ``worths`` has one column per quantity (conversions, value), so both use the same orders.
    """
    rng = np.random.default_rng(seed)
    members = ((masks[:, None] >> np.arange(n)) & 1).astype(bool)  # (sets, channels)
    rows, cols = np.nonzero(members)
    width = int(members.sum(axis=1).max())
    slot = np.arange(rows.size) - np.searchsorted(rows, rows)  # position within its set
    padded = np.full((masks.size, width), n, dtype=np.int64)  # n: no channel
    padded[rows, slot] = cols
    total = np.zeros((n, worths.shape[1]))
    total_sq = np.zeros_like(total)
    for _ in range(permutations):
        rank = np.r_[rng.permutation(n), -1]
        last = np.argmax(rank[padded], axis=1)
        completes = padded[np.arange(masks.size), last]
        marginal = np.stack(
            [np.bincount(completes, weights=w, minlength=n) for w in worths.T], axis=1
        )
        total += marginal
        total_sq += marginal**2
    mean = total / permutations
    var = (
        np.maximum(total_sq / permutations - mean**2, 0.0) * permutations / max(permutations - 1, 1)
    )
    return mean, np.sqrt(var / permutations)


def shapley_attribution(
    paths: Paths,
    *,
    exact_max_channels: int = EXACT_MAX_CHANNELS,
    permutations: int = 1000,
    seed: int = 0,
) -> ShapleyResult:
    """Shapley conversions (and value) per channel; see the module docstring for the worth.

    Examples
    --------
    >>> p = Paths.from_strings(["a > b", "b", "a > a"], [2, 1, 1], [0, 0, 0])
    >>> shapley_attribution(p).conversions
    {'a': 2.0, 'b': 2.0}
    """
    n = len(paths.channels)
    masks, conv, value = channel_sets(paths)
    has_value = paths.values is not None
    names = paths.channels
    if n <= exact_max_channels:
        phi = _exact(n, masks, conv)
        zero = dict.fromkeys(names, 0.0)
        phi_v = _exact(n, masks, value) if has_value else None
        return ShapleyResult(
            dict(zip(names, phi.tolist(), strict=True)),
            zero,
            True,
            value=None if phi_v is None else dict(zip(names, phi_v.tolist(), strict=True)),
            value_std_error=zero if has_value else None,
        )
    if permutations < 2:
        raise MeasureError(f"sampled Shapley needs at least 2 orders, got {permutations}")
    mean, se = _sampled(n, masks, np.column_stack([conv, value]), permutations, seed)
    return ShapleyResult(
        dict(zip(names, mean[:, 0].tolist(), strict=True)),
        dict(zip(names, se[:, 0].tolist(), strict=True)),
        False,
        permutations,
        value=dict(zip(names, mean[:, 1].tolist(), strict=True)) if has_value else None,
        value_std_error=dict(zip(names, se[:, 1].tolist(), strict=True)) if has_value else None,
    )
