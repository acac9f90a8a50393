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


def test_policy_priors_start_each_offer_at_the_fleet_rate() -> None:
    from edgemark.edge._contextual import default_prior, score_logit
    from edgemark.edge._settings import Prior

    arms = ["none", "pct10", "bogo"]
    exact = np.array([0.10, 0.16, 0.13])
    priors = federated_offer_priors([exact] * 50, arms, clip_norm=1.0, noise_multiplier=0.0,
                                    strength=40.0)  # fmt: skip
    policy = priors.policy_priors(n_features=3)
    assert set(policy) == {"pct10", "bogo"}
    bias_var = 1 / (40 * 0.16 * 0.84) + 1 / (40 * 0.10 * 0.90)
    assert policy["pct10"]["variance"][0] == pytest.approx(bias_var)
    # On the edge, a user whose propensity is the fleet's no-offer rate starts at each
    # offer's fleet rate (prior mean), and the no-offer arm keeps the propensity model.
    weights = {arm: Prior(tuple(p["mean"]), tuple(p["variance"])) for arm, p in policy.items()}
    model = default_prior(5, arms, weights, 1.0)
    x = np.array([1.0, score_logit(0.10), 0.0, 0.0, 0.0])
    w = model.mean_.reshape(3, 5)
    for k, rate in enumerate(exact):
        logit = x @ (w[0] + (w[k] if k else 0.0))
        assert 1 / (1 + math.exp(-logit)) == pytest.approx(rate, abs=1e-9)
    with pytest.raises(ConfigError, match="baseline"):
        federated_offer_priors([exact[1:]], arms[1:], clip_norm=1.0,
                               noise_multiplier=0.0).policy_priors(3)  # fmt: skip
