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
    rates_noise_std,
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


# Four stores' exact rates for (none, pct10, bogo, freeship), as in the demo's world.
FOUR = np.array([[0.14, 0.21, 0.17, 0.17], [0.13, 0.20, 0.16, 0.14],
                 [0.14, 0.21, 0.17, 0.15], [0.18, 0.24, 0.21, 0.18]])  # fmt: skip
ARMS = ["none", "pct10", "bogo", "freeship"]


def _beta_sd(alpha: float, beta: float) -> float:
    n = alpha + beta
    return math.sqrt(alpha * beta / (n * n * (n + 1)))


def test_prior_strength_shrinks_with_the_dp_noise_so_the_prior_covers_the_fleet_rate() -> None:
    # Four nodes at epsilon 4: the fleet mean carries noise of sd z*C/4 = 0.16, as large as
    # the rates themselves. A fixed 20 pseudo-counts would claim a sd of ~0.08.
    clip, z = 0.5, calibrate_noise(4.0, 1, 1.0)
    share = rates_noise_std(clip, z, len(FOUR))
    truth = FOUR.mean(axis=0)
    covered, covered_fixed = [], []
    for _ in range(300):
        sent = [noised_rates(r, clip, share) for r in FOUR]
        priors = federated_offer_priors(sent, ARMS, clip_norm=clip, noise_multiplier=z)
        assert priors.noise_std == pytest.approx(z * clip / 4)
        for arm, exact in zip(ARMS, truth, strict=True):
            r = priors.rates[arm]
            n = priors.strength[arm]
            assert n == pytest.approx(min(20.0, r * (1 - r) / priors.noise_std**2))
            covered.append(abs(r - exact) < 1.96 * _beta_sd(priors.alpha[arm], priors.beta[arm]))
            covered_fixed.append(abs(r - exact) < 1.96 * _beta_sd(r * 20, (1 - r) * 20))
    # Measured: ~0.90 with the noise-aware strength (the delta method loses a little where
    # the noise pushes a rate towards 0), ~0.64 with the old fixed strength.
    assert np.mean(covered) > 0.85
    assert np.mean(covered_fixed) < 0.75


def test_strength_reaches_the_cap_when_the_noise_is_small_and_fewer_answers_get_topped_up() -> None:
    exact = np.array([0.5, 0.5, 0.5, 0.5])
    quiet = federated_offer_priors([exact] * 4, ARMS, clip_norm=1.0, noise_multiplier=0.01)
    assert quiet.strength == pytest.approx(dict.fromkeys(ARMS, 20.0))
    # Two of four expected nodes answer, each with its share z*C/2 of the noise: the hub
    # adds the missing half of the variance, so the mean's sd is z*C/2, not z*C/(2 sqrt 2).
    clip, z = 1.0, 0.1
    means = [
        federated_offer_priors([noised_rates(exact, clip, rates_noise_std(clip, z, 4))
                                for _ in range(2)], ARMS, clip_norm=clip,
                               noise_multiplier=z, expected=4).rates["none"]
        for _ in range(3000)
    ]  # fmt: skip
    assert float(np.std(means)) == pytest.approx(z * clip / 2, rel=0.08)
    topped = federated_offer_priors([exact] * 2, ARMS, clip_norm=clip, noise_multiplier=z,
                                    expected=4)  # fmt: skip
    assert topped.noise_std == pytest.approx(z * clip / 2)


def test_base_variance_makes_the_fleet_rates_evidence_on_the_edge_default_prior() -> None:
    exact = np.array([0.10, 0.16])
    arms = ["none", "pct10"]
    priors = federated_offer_priors([exact] * 4, arms, clip_norm=1.0, noise_multiplier=0.0,
                                    strength=40.0)  # fmt: skip
    alone = priors.policy_priors(n_features=1)["pct10"]
    updated = priors.policy_priors(n_features=1, base_variance=0.5)["pct10"]
    m, v = alone["mean"][0], alone["variance"][0]
    # Precisions add; the mean is the precision-weighted average of 0 and the fleet's.
    assert 1 / updated["variance"][0] == pytest.approx(1 / 0.5 + 1 / v)
    assert updated["mean"][0] == pytest.approx((m / v) * updated["variance"][0])
    assert 0 < updated["mean"][0] < m and updated["variance"][1:] == alone["variance"][1:]
    with pytest.raises(ConfigError, match="base_variance"):
        priors.policy_priors(n_features=1, base_variance=0.0)
    with pytest.raises(ConfigError, match="2 rates"):
        federated_offer_priors([np.zeros(3)], arms, clip_norm=1.0, noise_multiplier=0.0)


def test_a_public_centre_lets_a_small_clip_norm_keep_the_rates() -> None:
    center = FOUR.mean(axis=0) + np.array([0.02, -0.01, 0.01, 0.0])  # e.g. from DP reports
    sent = [noised_rates(r, 0.15, 0.0, center=center) for r in FOUR]
    assert max(float(np.linalg.norm(s)) for s in sent) < 0.15  # nothing is clipped
    centred = federated_offer_priors(sent, ARMS, clip_norm=0.15, noise_multiplier=0.0,
                                     center=center)  # fmt: skip
    assert [centred.rates[a] for a in ARMS] == pytest.approx(FOUR.mean(axis=0).tolist())
    # Without the centre the same clip norm would shrink every rate towards 0.
    raw = federated_offer_priors([noised_rates(r, 0.15, 0.0) for r in FOUR], ARMS,
                                 clip_norm=0.15, noise_multiplier=0.0)  # fmt: skip
    assert all(raw.rates[a] < 0.5 * centred.rates[a] for a in ARMS)
