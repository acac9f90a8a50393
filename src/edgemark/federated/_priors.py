"""Offer-policy priors learned across the fleet: each node contributes its per-offer
conversion rates (a vector in [0, 1]^K, sent relative to a public centre, clipped and
noised like a model update), the hub averages them into fleet-wide rates and turns them
into Beta priors for Thompson sampling, as strong as the DP noise on the average allows and
no stronger.

One release costs ``epsilon_spent(1, z, 1)`` at node level; the vector never says how
many users a node saw.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edgemark.errors import ConfigError
from edgemark.federated._dp import DEFAULT_DELTA, clip_update, epsilon_spent, gaussian_noise

FloatArray = npt.NDArray[np.float64]
RATE_FLOOR = 0.01  # fleet rates are kept in [0.01, 0.99], so every logit stays finite


@dataclass(frozen=True)
class OfferPriors:
    """Beta(alpha, beta) per offer, the noised fleet rates and the epsilon of the release.

    ``noise_std`` is the standard deviation of the DP noise on each fleet rate (0 without
    DP); ``strength`` (alpha + beta per arm) is how many observations each prior is worth.
    """

    alpha: dict[str, float]
    beta: dict[str, float]
    rates: dict[str, float]
    epsilon: float
    delta: float
    noise_std: float = 0.0

    @property
    def strength(self) -> dict[str, float]:
        """Pseudo-counts per arm (alpha + beta)."""
        return {arm: self.alpha[arm] + self.beta[arm] for arm in self.rates}

    def policy_priors(
        self,
        n_features: int,
        *,
        baseline: str = "none",
        slope_variance: float = 0.1,
        base_variance: float | None = None,
    ) -> dict[str, dict[str, list[float]]]:
        """The bundle policy's ``priors`` for the edge's contextual policy.

        An offer's weights there are its difference from the no-offer arm on the logit
        scale, over the context [1, logit(score), features...]; the fleet's rates give
        the bias a mean of logit(r_offer) - logit(r_baseline) and the variance of that
        difference under Beta priors of this strength (1 / (n r (1 - r)) per rate); the
        other weights keep mean 0 and ``slope_variance``. Rates should come from
        randomised traffic (holdout and explore layers), else targeting confounds them.

        With ``base_variance`` the fleet's figure is evidence that updates the edge's own
        prior for an offer's bias, N(0, base_variance) ("offers do nothing"; the edge uses
        0.5 x its ``prior_variance``), instead of replacing it: a release drowned in DP
        noise then leaves that prior almost as it was rather than making it vaguer.
        """
        if baseline not in self.rates:
            raise ConfigError(f"offer priors have no rate for the baseline arm {baseline!r}")
        if n_features < 0 or not slope_variance > 0:
            raise ConfigError("n_features must be >= 0 and slope_variance > 0")
        if base_variance is not None and not base_variance > 0:
            raise ConfigError(f"base_variance must be > 0, got {base_variance!r}")
        dim = 2 + n_features
        base_logit, base_var = self._logit(baseline)
        out = {}
        for offer in self.rates:
            if offer == baseline:
                continue
            logit, var = self._logit(offer)
            mean, variance = logit - base_logit, var + base_var
            if base_variance is not None:
                mean, variance = _update(base_variance, mean, variance)
            out[offer] = {
                "mean": [mean] + [0.0] * (dim - 1),
                "variance": [variance] + [slope_variance] * (dim - 1),
            }
        return out

    def _logit(self, arm: str) -> tuple[float, float]:
        r, n = self.rates[arm], self.alpha[arm] + self.beta[arm]
        return math.log(r / (1.0 - r)), 1.0 / (n * r * (1.0 - r))


def _update(prior_variance: float, mean: float, variance: float) -> tuple[float, float]:
    """N(0, prior_variance) updated by a measurement N(mean, variance) (precisions add)."""
    weight = prior_variance / (prior_variance + variance)
    return mean * weight, variance * weight


def node_rates(
    exposures: Mapping[str, float],
    conversions: Mapping[str, float],
    offers: Sequence[str],
    center: npt.ArrayLike | None = None,
) -> FloatArray:
    """A node's conversion rate per offer, in ``offers`` order. Where it has no exposure it
    reports the release's ``center`` (one per offer: a zero difference, which does not pull
    the fleet's rate), or 0.5 without a centre (None or all zeros, where a 0 would).

    >>> node_rates({"a": 10}, {"a": 3}, ["a", "b"], center=[0.2, 0.1]).tolist()
    [0.3, 0.1]
    >>> node_rates({"a": 10}, {"a": 3}, ["a", "b"], center=[0.0, 0.0]).tolist()
    [0.3, 0.5]
    """
    given = None if center is None else np.asarray(center, dtype=np.float64)
    default = given if given is not None and np.any(given) else np.full(len(offers), 0.5)
    out = []
    for k, offer in enumerate(offers):
        n = float(exposures.get(offer, 0.0))
        rate = float(conversions.get(offer, 0.0)) / n if n > 0 else float(default[k])
        out.append(min(max(rate, 0.0), 1.0))
    return np.asarray(out, dtype=np.float64)


def noised_rates(
    rates: FloatArray,
    clip_norm: float,
    noise_std: float,
    center: npt.ArrayLike | None = None,
) -> FloatArray:
    """What a node sends: its rates minus ``center`` (default 0), clipped to ``clip_norm``,
    plus its share of the noise.

    A public centre near the fleet's rates (e.g. the rates the hub already has from the
    nodes' DP reports: reusing a DP release costs nothing) leaves only each store's small
    difference to clip, so a much smaller ``clip_norm``, and so less noise, will do.
    """
    values = np.asarray(rates, dtype=np.float64)
    if center is not None:
        values = values - np.asarray(center, dtype=np.float64)
    return clip_update(values, clip_norm) + (
        gaussian_noise(values.shape, noise_std) if noise_std > 0 else 0.0
    )


def rates_noise_std(clip_norm: float, noise_multiplier: float, nodes: int) -> float:
    """The share of noise each of ``nodes`` expected nodes adds, so their sum carries z·C.

    >>> rates_noise_std(0.5, 2.0, 4)
    0.5
    """
    return noise_multiplier * clip_norm / math.sqrt(max(nodes, 1))


def federated_offer_priors(
    contributions: Sequence[FloatArray],
    offers: Sequence[str],
    *,
    clip_norm: float,
    noise_multiplier: float,
    strength: float = 20.0,
    delta: float = DEFAULT_DELTA,
    expected: int | None = None,
    center: npt.ArrayLike | None = None,
) -> OfferPriors:
    """Average the nodes' noised rate vectors into Beta priors of at most ``strength``
    pseudo-counts.

    ``contributions`` are ``noised_rates`` made with ``noise_std = rates_noise_std(C, z,
    expected)`` and the same ``center`` (added back to their mean here); ``expected``
    defaults to the number of contributions. When fewer nodes answered, the missing share
    of the noise is added here, so the sum always carries N(0, (z·C)²) as the accountant
    assumes. The fleet rate r of an arm then has DP noise
    of standard deviation s = z·C·sqrt(max(n, expected)/expected)/n over n answers.

    The strength of an arm's prior is ``min(strength, r (1 - r) / s²)``: the number of
    Bernoulli observations whose mean is as uncertain as the noised rate (a Beta with n
    pseudo-counts has variance r (1 - r) / (n + 1)), so the prior's logit variance
    1 / (n r (1 - r)) is the delta-method variance s² / (r (1 - r))² of the noised rate's
    logit. ``strength`` caps it: even an exact fleet rate is only a guess for one store
    (stores differ), and the sampling error of the nodes' own rates is not counted in s.
    """
    if not contributions:
        raise ConfigError("offer priors need at least one node's contribution")
    if not strength > 0:
        raise ConfigError(f"prior strength must be > 0, got {strength!r}")
    if not (clip_norm > 0 and noise_multiplier >= 0):
        raise ConfigError("clip_norm must be > 0 and noise_multiplier >= 0")
    sent = np.asarray(contributions, dtype=np.float64)
    if sent.ndim != 2 or sent.shape[1] != len(offers):
        raise ConfigError(f"each contribution needs {len(offers)} rates, one per offer")
    n, m = len(sent), max(expected or len(sent), 1)
    sigma = noise_multiplier * clip_norm  # on the sum, once every share is in
    total = np.sum(sent, axis=0)
    if sigma > 0 and n < m:
        total = total + gaussian_noise(total.shape, sigma * math.sqrt((m - n) / m))
    noise_std = sigma * math.sqrt(max(n, m) / m) / n
    offset = 0.0 if center is None else np.asarray(center, dtype=np.float64)
    mean = np.clip(offset + total / n, RATE_FLOOR, 1.0 - RATE_FLOOR)
    eps = _release_epsilon(noise_multiplier, delta)
    rates = {o: float(r) for o, r in zip(offers, mean, strict=True)}
    pseudo = {
        o: strength if noise_std == 0 else min(strength, r * (1 - r) / noise_std**2)
        for o, r in rates.items()
    }
    return OfferPriors(
        alpha={o: r * pseudo[o] for o, r in rates.items()},
        beta={o: (1 - r) * pseudo[o] for o, r in rates.items()},
        rates=rates,
        epsilon=eps,
        delta=delta,
        noise_std=noise_std,
    )


@functools.lru_cache(maxsize=64)
def _release_epsilon(noise_multiplier: float, delta: float) -> float:
    """Epsilon of one Gaussian release (cached: the accountant takes ~10 ms)."""
    return epsilon_spent(1, noise_multiplier, 1.0, delta) if noise_multiplier > 0 else math.inf
