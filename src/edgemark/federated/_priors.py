"""Offer-policy priors learned across the fleet: each node contributes its per-offer
conversion rates (a vector in [0, 1]^K, clipped and noised like a model update), the hub
averages them into fleet-wide rates and turns them into Beta priors for Thompson sampling.

One release costs ``epsilon_spent(1, z, 1)`` at node level; the vector never says how
many users a node saw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgemark.errors import ConfigError
from edgemark.federated._dp import DEFAULT_DELTA, clip_update, epsilon_spent, gaussian_noise

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OfferPriors:
    """Beta(alpha, beta) per offer, the noised fleet rates and the epsilon of the release."""

    alpha: dict[str, float]
    beta: dict[str, float]
    rates: dict[str, float]
    epsilon: float
    delta: float

    def policy_priors(
        self, n_features: int, *, baseline: str = "none", slope_variance: float = 0.1
    ) -> dict[str, dict[str, list[float]]]:
        """The bundle policy's ``priors`` for the edge's contextual policy.

        An offer's weights there are its difference from the no-offer arm on the logit
        scale, over the context [1, logit(score), features...]; the fleet's rates give
        the bias a mean of logit(r_offer) - logit(r_baseline) and the variance of that
        difference under Beta priors of this strength (1 / (n r (1 - r)) per rate); the
        other weights keep mean 0 and ``slope_variance``. Rates should come from
        randomised traffic (holdout and explore layers), else targeting confounds them.
        """
        if baseline not in self.rates:
            raise ConfigError(f"offer priors have no rate for the baseline arm {baseline!r}")
        if n_features < 0 or not slope_variance > 0:
            raise ConfigError("n_features must be >= 0 and slope_variance > 0")
        dim = 2 + n_features
        base_logit, base_var = self._logit(baseline)
        out = {}
        for offer in self.rates:
            if offer == baseline:
                continue
            logit, var = self._logit(offer)
            mean = [logit - base_logit] + [0.0] * (dim - 1)
            out[offer] = {"mean": mean, "variance": [var + base_var] + [slope_variance] * (dim - 1)}
        return out

    def _logit(self, arm: str) -> tuple[float, float]:
        r, n = self.rates[arm], self.alpha[arm] + self.beta[arm]
        return math.log(r / (1.0 - r)), 1.0 / (n * r * (1.0 - r))


def node_rates(
    exposures: Mapping[str, float], conversions: Mapping[str, float], offers: Sequence[str]
) -> FloatArray:
    """A node's conversion rate per offer (0.5 where it has no exposure), in ``offers`` order."""
    out = []
    for offer in offers:
        n = float(exposures.get(offer, 0.0))
        out.append(min(max(float(conversions.get(offer, 0.0)) / n, 0.0), 1.0) if n > 0 else 0.5)
    return np.asarray(out, dtype=np.float64)


def noised_rates(rates: FloatArray, clip_norm: float, noise_std: float) -> FloatArray:
    """What a node sends: its rates clipped to ``clip_norm`` plus its share of the noise."""
    return clip_update(np.asarray(rates, dtype=np.float64), clip_norm) + (
        gaussian_noise(rates.shape, noise_std) if noise_std > 0 else 0.0
    )


def federated_offer_priors(
    contributions: Sequence[FloatArray],
    offers: Sequence[str],
    *,
    clip_norm: float,
    noise_multiplier: float,
    strength: float = 20.0,
    delta: float = DEFAULT_DELTA,
) -> OfferPriors:
    """Average the nodes' noised rate vectors into Beta priors of ``strength`` pseudo-counts.

    ``contributions`` are ``noised_rates`` made with ``noise_std = z * C / sqrt(len)``.
    """
    if not contributions:
        raise ConfigError("offer priors need at least one node's contribution")
    if not strength > 0:
        raise ConfigError(f"prior strength must be > 0, got {strength!r}")
    mean = np.clip(np.mean(np.asarray(contributions, dtype=np.float64), axis=0), 0.01, 0.99)
    eps = epsilon_spent(1, noise_multiplier, 1.0, delta) if noise_multiplier > 0 else math.inf
    rates = {o: float(r) for o, r in zip(offers, mean, strict=True)}
    return OfferPriors(
        alpha={o: r * strength for o, r in rates.items()},
        beta={o: (1 - r) * strength for o, r in rates.items()},
        rates=rates,
        epsilon=eps,
        delta=delta,
    )
