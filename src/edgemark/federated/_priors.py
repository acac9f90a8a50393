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
