"""Markov-chain attribution: removal effects solved exactly from the absorbing chain.

States of an order-k chain follow ChannelAttribution's convention: a path of length L > k
passes through its L - k + 1 windows of k consecutive channels (a path of length <= k is a
single state), from ``(start)`` to ``(conversion)`` or ``(null)``. Self-transitions are
dropped (they do not change absorption probabilities). With P the transitions among
transient states and r the one-step conversion probabilities, the conversion probability
from each state solves ``(I - P) x = r``; removing a channel makes every state containing it
absorb into ``(null)``, i.e. drops those rows and columns. The removal effect is
``1 - p_removed / p_full``; channels share the total conversions (and value) in proportion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import MeasureError
from edgemark.measure._paths import Paths

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_DENSE_MAX = 1200  # states above this are solved with SciPy's sparse LU


@dataclass(frozen=True, slots=True)
class MarkovResult:
    """Removal effects and attributed conversions (and value) of an order-k chain."""

    order: int
    removal_effects: dict[str, float]
    conversions: dict[str, float]
    conversion_probability: float
    states: int
    value_removal_effects: dict[str, float] | None = None
    value: dict[str, float] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return {
            "order": self.order,
            "states": self.states,
            "conversion_probability": self.conversion_probability,
            "removal_effects": dict(self.removal_effects),
            "conversions": dict(self.conversions),
            "value_removal_effects": self.value_removal_effects,
            "value": self.value,
        }


@dataclass(frozen=True, slots=True)
class _Chain:
    transitions: tuple[IntArray, IntArray, FloatArray]  # from, to, probability (no self-loops)
    conv: FloatArray  # one-step conversion probability per state
    value: FloatArray  # expected one-step conversion value per state
    start: FloatArray  # probability of entering each state first
    members: BoolArray  # (states, channels): which channels a state contains


def _state_codes(paths: Paths, order: int) -> tuple[IntArray, IntArray]:
    """Each path's sequence of state codes (base-(C+1) digits of its channels + 1)."""
    base = len(paths.channels) + 1
    if base**order >= 2**62:
        raise MeasureError(f"{base - 1} channels at order {order} overflow the state codes")
    pos, length = paths.position, paths.lengths[paths.path_of_touch]
    code = np.zeros(paths.flat.size, dtype=np.int64)
    for i in range(order):
        valid = pos + i < length
        shifted = paths.flat[np.minimum(np.arange(paths.flat.size) + i, paths.flat.size - 1)]
        code += np.where(valid, shifted + 1, 0) * base**i
    keep = pos <= np.maximum(length - order, 0)
    return code[keep], paths.path_of_touch[keep]


def build_chain(paths: Paths, order: int) -> _Chain:
    """Transition probabilities of the order-``order`` chain fitted to ``paths``."""
    if not (isinstance(order, int) and 1 <= order <= 3):
        raise MeasureError(f"Markov order must be 1, 2 or 3, got {order!r}")
    weight = paths.conversions + paths.nulls
    seq, owner = _state_codes(paths, order)
    codes, ids = np.unique(seq, return_inverse=True)
    ids = ids.reshape(-1).astype(np.int64)
    s = codes.size
    same = owner[:-1] == owner[1:]
    frm, to, w = ids[:-1][same], ids[1:][same], weight[owner[:-1][same]]
    loop = frm == to
    key = frm[~loop] * s + to[~loop]
    keys, inverse = np.unique(key, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=w[~loop], minlength=keys.size)
    first = np.r_[True, ~same]
    last = np.r_[~same, True]
    conv = np.bincount(ids[last], weights=paths.conversions[owner[last]], minlength=s)
    null = np.bincount(ids[last], weights=paths.nulls[owner[last]], minlength=s)
    values = paths.values if paths.values is not None else np.zeros(paths.lengths.size)
    value = np.bincount(ids[last], weights=values[owner[last]], minlength=s)
    out = np.bincount(keys // s, weights=counts, minlength=s) + conv + null
    start = np.bincount(ids[first], weights=weight[owner[first]], minlength=s) / weight.sum()
    digits = (codes[:, None] // (len(paths.channels) + 1) ** np.arange(order)) % (
        len(paths.channels) + 1
    )
    members = np.zeros((s, len(paths.channels)), dtype=bool)
    for j in range(order):
        has = digits[:, j] > 0
        members[np.flatnonzero(has), digits[has, j] - 1] = True
    return _Chain(
        (keys // s, keys % s, counts / out[keys // s]), conv / out, value / out, start, members
    )


def _solve(chain: _Chain, keep: BoolArray, rhs: FloatArray) -> float:
    """Absorption value from ``(start)`` when only the ``keep`` states remain transient."""
    frm, to, p = chain.transitions
    index = np.full(keep.size, -1, dtype=np.int64)
    index[keep] = np.arange(int(keep.sum()))
    inside = keep[frm] & keep[to]
    n = int(keep.sum())
    if n == 0:
        return 0.0
    rows, cols, vals = index[frm[inside]], index[to[inside]], p[inside]
    if n <= _DENSE_MAX:
        a = np.eye(n)
        np.subtract.at(a, (rows, cols), vals)
        x = np.linalg.solve(a, rhs[keep])
    else:
        sparse = require("scipy.sparse", "train")
        linalg = require("scipy.sparse.linalg", "train")
        a = sparse.identity(n, format="csc") - sparse.csc_matrix((vals, (rows, cols)), (n, n))
        x = linalg.splu(a).solve(rhs[keep])
    return float(chain.start[keep] @ x)


def markov_attribution(paths: Paths, order: int = 1) -> MarkovResult:
    """Removal effects and attribution of an order-``order`` (1-3) Markov chain.

    Examples
    --------
    >>> p = Paths.from_strings(["a > b", "b"], [1, 1], [0, 1])
    >>> r = markov_attribution(p)  # without a, only b's 2/3 of starts convert (at 2/3)
    >>> {k: round(v, 4) for k, v in r.removal_effects.items()}
    {'a': 0.3333, 'b': 1.0}
    >>> {k: round(v, 4) for k, v in r.conversions.items()}
    {'a': 0.5, 'b': 1.5}
    """
    if paths.conversions.sum() <= 0:
        raise MeasureError("the paths have no conversions; there is nothing to attribute")
    chain = build_chain(paths, order)
    everything = np.ones(chain.conv.size, dtype=bool)
    full = _solve(chain, everything, chain.conv)
    effects = {
        name: 1.0 - _solve(chain, ~chain.members[:, c], chain.conv) / full
        for c, name in enumerate(paths.channels)
    }
    result_value = value_effects = None
    if paths.values is not None and paths.values.sum() > 0:
        full_value = _solve(chain, everything, chain.value)
        value_effects = {
            name: 1.0 - _solve(chain, ~chain.members[:, c], chain.value) / full_value
            for c, name in enumerate(paths.channels)
        }
        result_value = _share(value_effects, float(paths.values.sum()))
    return MarkovResult(
        order=order,
        removal_effects=effects,
        conversions=_share(effects, float(paths.conversions.sum())),
        conversion_probability=full,
        states=int(chain.conv.size),
        value_removal_effects=value_effects,
        value=result_value,
    )


def _share(effects: dict[str, float], total: float) -> dict[str, float]:
    norm = sum(effects.values())
    return {k: (v / norm * total if norm > 0 else 0.0) for k, v in effects.items()}
