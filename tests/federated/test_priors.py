"""Fleet-wide offer priors from clipped, noised per-node conversion rates."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgemark.errors import ConfigError
from edgemark.federated import (
    calibrate_noise,
    epsilon_spent,
    federated_offer_priors,
    node_rates,
    noised_rates,
)

OFFERS = ["pct10", "bogo", "freeship"]


def test_priors_recover_the_fleet_rates_within_the_noise() -> None:
    rng = np.random.default_rng(5)
    true = np.array([0.25, 0.18, 0.12])
    nodes, clip = 200, 1.0
    z = calibrate_noise(2.0, 1, 1.0)
    share = z * clip / math.sqrt(nodes)
    sent, exact = [], []
    for _ in range(nodes):
        rates = np.clip(true + rng.normal(0, 0.03, 3), 0, 1)  # non-IID stores
        n = rng.integers(200, 2000, 3)
        conv = rng.binomial(n, rates)
        local = node_rates(dict(zip(OFFERS, n, strict=True)), dict(zip(OFFERS, conv, strict=True)),
                           OFFERS)  # fmt: skip
        exact.append(local)
        sent.append(noised_rates(local, clip, share))
    priors = federated_offer_priors(sent, OFFERS, clip_norm=clip, noise_multiplier=z,
                                    strength=50.0)  # fmt: skip
    got = np.array([priors.rates[o] for o in OFFERS])
    # The aggregate's noise has std z*C/nodes per offer; 4 of those would catch a mistake.
    assert np.all(np.abs(got - np.mean(exact, axis=0)) < 4 * z * clip / nodes)
    assert np.all(np.abs(got - true) < 0.03)
    assert priors.alpha["pct10"] + priors.beta["pct10"] == pytest.approx(50.0)
    assert priors.epsilon == pytest.approx(epsilon_spent(1, z, 1.0)) and priors.epsilon <= 2.0


def test_node_rates_and_bad_input() -> None:
    assert node_rates({"a": 10, "b": 0}, {"a": 3}, ["a", "b", "c"]).tolist() == [0.3, 0.5, 0.5]
    assert np.linalg.norm(noised_rates(np.array([1.0, 1.0, 1.0]), 1.0, 0.0)) == pytest.approx(1)
    with pytest.raises(ConfigError):
        federated_offer_priors([], OFFERS, clip_norm=1.0, noise_multiplier=1.0)
