"""Simulated customer journeys with a known attribution structure.

Journeys walk a first-order Markov chain over marketing channels, from a start
distribution, until they convert or drop out. The chain is the ground truth: its exact
removal effects (``true_removal_effects``) are what a Markov attribution fitted to enough
simulated paths must recover. Paths come out in the common paths format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import SimError

FloatArray = npt.NDArray[np.float64]
DEFAULT_CHANNELS: tuple[str, ...] = ("display", "email", "search", "social", "tv")
_MAX_STEPS = 60  # a journey still open after this many touches drops out


@dataclass(frozen=True, slots=True)
class JourneyWorld:
    """A first-order channel chain: ``start[c]`` and ``transitions[c]`` (next channel for
    each of the C channels, then conversion, then drop-out), rows summing to 1, no
    self-transitions."""

    channels: tuple[str, ...]
    start: FloatArray
    transitions: FloatArray
    mean_value: float = 60.0

    def __post_init__(self) -> None:
        c = len(self.channels)
        if c < 1 or len(set(self.channels)) != c or any(">" in ch for ch in self.channels):
            raise SimError(f"channels must be distinct names without '>', got {self.channels}")
        if self.start.shape != (c,) or self.transitions.shape != (c, c + 2):
            raise SimError(f"start must be ({c},) and transitions ({c}, {c + 2})")
        sums = np.r_[self.start.sum(), self.transitions.sum(axis=1)]
        if not np.allclose(sums, 1.0):
            raise SimError("start and every transition row must sum to 1")
        negative = (self.transitions < 0).any() or (self.start < 0).any()
        if negative or np.diag(self.transitions[:, :c]).any():
            raise SimError("probabilities must be >= 0 and the chain has no self-transitions")

    @classmethod
    def random(cls, channels: tuple[str, ...] = DEFAULT_CHANNELS, seed: int = 0) -> JourneyWorld:
        """A random chain where channels differ in how much they lead to conversion.

        Examples
        --------
        >>> world = JourneyWorld.random(seed=1)
        >>> world.channels
        ('display', 'email', 'search', 'social', 'tv')
        """
        rng = np.random.default_rng(seed)
        c = len(channels)
        strength = rng.uniform(0.02, 0.25, size=c)  # conversion probability after a touch
        drop = rng.uniform(0.25, 0.45, size=c)
        onward = rng.dirichlet(np.full(c, 2.0), size=c)
        np.fill_diagonal(onward, 0.0)
        onward /= np.maximum(onward.sum(axis=1, keepdims=True), 1e-12)
        if c == 1:  # nowhere to move on to
            drop = 1.0 - strength
        move = 1.0 - strength - drop
        transitions = np.column_stack([onward * move[:, None], strength, drop])
        return cls(tuple(channels), rng.dirichlet(np.full(c, 2.0)), transitions)

    def _absorb(self, keep: npt.NDArray[np.bool_]) -> float:
        c = len(self.channels)
        q = self.transitions[:, :c][np.ix_(keep, keep)]
        x = np.linalg.solve(np.eye(int(keep.sum())) - q, self.transitions[keep, c])
        return float(self.start[keep] @ x)

    def true_conversion_probability(self) -> float:
        """The probability that a journey converts."""
        return self._absorb(np.ones(len(self.channels), dtype=bool))

    def true_removal_effects(self) -> dict[str, float]:
        """For each channel, the share of conversions lost if it were removed from the chain."""
        full = self.true_conversion_probability()
        everything = np.ones(len(self.channels), dtype=bool)
        return {
            name: 1.0 - self._absorb(everything & (np.arange(everything.size) != i)) / full
            for i, name in enumerate(self.channels)
        }

    def journeys(self, n: int, seed: int = 0) -> tuple[list[list[int]], FloatArray, FloatArray]:
        """``n`` journeys: channel indices per journey, converted (0/1) and value."""
        if n < 1:
            raise SimError(f"journeys must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        c = len(self.channels)
        state = _draw(rng, np.broadcast_to(self.start, (n, c)))
        steps = [state]
        outcome = np.full(n, -1, dtype=np.int64)  # -1 open, c converted, c + 1 dropped
        open_ = np.ones(n, dtype=bool)
        for _ in range(_MAX_STEPS):
            nxt = _draw(rng, self.transitions[state])
            done = open_ & (nxt >= c)
            outcome[done] = nxt[done]
            open_ &= nxt < c
            state = np.where(open_, nxt, -1)
            steps.append(state)
            if not open_.any():
                break
        outcome[outcome < 0] = c + 1
        matrix = np.column_stack(steps)
        paths = [row[row >= 0].tolist() for row in matrix]
        converted = (outcome == c).astype(np.float64)
        value = converted * rng.lognormal(np.log(self.mean_value) - 0.125, 0.5, size=n)
        return paths, converted, value

    def paths_table(self, n: int, seed: int = 0, *, aggregate: bool = True) -> list[dict[str, Any]]:
        """``n`` journeys as rows of the paths format (``path``, ``total_conversions``,
        ``total_null``, ``total_conversion_value``), one per distinct path if ``aggregate``."""
        paths, converted, value = self.journeys(n, seed)
        names = [" > ".join(self.channels[i] for i in p) for p in paths]
        if not aggregate:
            return [
                {
                    "path": name,
                    "total_conversions": int(conv),
                    "total_null": int(1 - conv),
                    "total_conversion_value": round(float(v), 2),
                }
                for name, conv, v in zip(names, converted, value, strict=True)
            ]
        conv_count: Counter[str] = Counter()
        null_count: Counter[str] = Counter()
        value_sum: Counter[str] = Counter()
        for name, conv, v in zip(names, converted.tolist(), value.tolist(), strict=True):
            conv_count[name] += int(conv)
            null_count[name] += int(1 - conv)
            value_sum[name] += v
        return [
            {
                "path": name,
                "total_conversions": conv_count[name],
                "total_null": null_count[name],
                "total_conversion_value": round(value_sum[name], 2),
            }
            for name in sorted(conv_count.keys() | null_count.keys())
        ]


def _draw(rng: np.random.Generator, probs: FloatArray) -> npt.NDArray[np.int64]:
    """One categorical draw per row of ``probs`` (inverse CDF)."""
    u = rng.random((probs.shape[0], 1))
    drawn: npt.NDArray[np.int64] = (np.cumsum(probs, axis=1) < u).sum(axis=1)
    capped: npt.NDArray[np.int64] = np.minimum(drawn, probs.shape[1] - 1)
    return capped
