"""DP-FedAvg's privacy: clipping each node's update, Gaussian noise on the sum, and the
accountant (dp-accounting's RDP, with Poisson sampling of nodes) that gives epsilon at a
fixed delta after every round and refuses a round that would exceed the budget.

The unit of privacy is a node: one node's whole update (and so any one user's events at
that node) changes the noised sum by at most the clipping norm.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import PrivacyBudgetExceeded, PrivacyError

FloatArray = npt.NDArray[np.float64]
DEFAULT_DELTA = 1e-6
# Integer orders: the fractional ones below 2 do not converge for large sampling rates.
_ORDERS = (*range(2, 64), 80, 128, 256)


def clip_update(update: FloatArray, clip_norm: float) -> FloatArray:
    """``update`` scaled down to L2 norm ``clip_norm`` when it is longer.

    >>> clip_update(np.array([3.0, 4.0]), 1.0).round(6).tolist()
    [0.6, 0.8]
    """
    norm = float(np.linalg.norm(update))
    if norm <= clip_norm or norm == 0.0:
        return np.asarray(update, dtype=np.float64)
    return np.asarray(update * (clip_norm / norm), dtype=np.float64)


def gaussian_noise(
    shape: tuple[int, ...], std: float, rng: np.random.Generator | None = None
) -> FloatArray:
    """Gaussian noise of standard deviation ``std`` (a fresh OS-seeded generator by default,
    so that nobody can replay the noise from a seed)."""
    gen = rng if rng is not None else np.random.default_rng()
    return np.asarray(gen.normal(0.0, std, size=shape), dtype=np.float64)


def epsilon_spent(
    rounds: int, noise_multiplier: float, sample_rate: float, delta: float = DEFAULT_DELTA
) -> float:
    """Epsilon at ``delta`` after ``rounds`` Poisson-sampled Gaussian rounds (RDP).

    >>> round(epsilon_spent(30, 1.0, 1.0), 2) > round(epsilon_spent(30, 2.0, 1.0), 2)
    True
    """
    if rounds <= 0:
        return 0.0
    if noise_multiplier <= 0:
        return math.inf
    dp = require("dp_accounting", "federated")
    rdp = require("dp_accounting.rdp", "federated")
    accountant = rdp.RdpAccountant(list(_ORDERS))
    event = dp.GaussianDpEvent(noise_multiplier)
    if sample_rate < 1.0:
        event = dp.PoissonSampledDpEvent(sample_rate, event)
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)  # an order that does not converge is dropped with a warning
    try:
        accountant.compose(event, int(rounds))
        return float(accountant.get_epsilon(delta))
    finally:
        absl.setLevel(level)


def calibrate_noise(
    epsilon: float, rounds: int, sample_rate: float, delta: float = DEFAULT_DELTA
) -> float:
    """The smallest noise multiplier (to 0.5%) whose ``rounds`` rounds stay within ``epsilon``."""
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise PrivacyError(f"target epsilon must be a finite number > 0, got {epsilon!r}")
    low, high = 0.05, 1.0
    while epsilon_spent(rounds, high, sample_rate, delta) > epsilon:
        low, high = high, high * 2
        if high > 1e4:
            raise PrivacyError(f"epsilon {epsilon:g} is out of reach for {rounds} rounds")
    while high - low > 0.005 * high:
        mid = (low + high) / 2
        if epsilon_spent(rounds, mid, sample_rate, delta) > epsilon:
            low = mid
        else:
            high = mid
    return high


@dataclass
class RoundAccountant:
    """Epsilon spent by DP-FedAvg rounds, and the stop before the budget is exceeded.

    ``noise_multiplier`` 0 means no DP (epsilon is infinite; no budget may be set).
    """

    noise_multiplier: float
    sample_rate: float
    budget: float | None = None
    delta: float = DEFAULT_DELTA
    rounds: int = 0

    @property
    def epsilon(self) -> float:
        """Epsilon spent by the rounds run so far."""
        return epsilon_spent(self.rounds, self.noise_multiplier, self.sample_rate, self.delta)

    def epsilon_after_next(self) -> float:
        """Epsilon the next round would bring the total to."""
        return epsilon_spent(self.rounds + 1, self.noise_multiplier, self.sample_rate, self.delta)

    def check_next(self) -> float:
        """Epsilon after the next round, or ``PrivacyBudgetExceeded`` if it would be over."""
        after = self.epsilon_after_next()
        if self.budget is not None and after > self.budget * (1 + 1e-9):
            raise PrivacyBudgetExceeded(
                f"Round {self.rounds + 1} would bring epsilon to {after:.3g} at delta "
                f"{self.delta:g}, over the budget {self.budget:g}; training stops after "
                f"{self.rounds} rounds (epsilon {self.epsilon:.3g}). Raise the budget, the "
                "noise multiplier, or sample fewer nodes per round."
            )
        return after

    def record_round(self) -> float:
        """Count one round (after ``check_next``) and return the epsilon spent so far."""
        self.rounds += 1
        return self.epsilon
