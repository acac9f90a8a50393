"""Contextual Thompson sampling: the Laplace update, learning, exact logged propensities and
promo suppression (offers that only pay a discount to buyers who would buy anyway)."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.edge import BayesLogistic, ContextualPolicy
from edgemark.edge._contextual import default_prior, pick
from edgemark.edge._settings import OfferTerms

TERMS = [OfferTerms("pct10", 0.10, 0.0, 0.3, 24.0), OfferTerms("ship", 0.0, 4.9, 0.3, 24.0)]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_one_update_is_the_exact_laplace_approximation() -> None:
    rng = np.random.default_rng(0)
    mean, a = rng.normal(size=3), rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    x, y = np.array([1.0, -0.5, 2.0]), 1
    model = BayesLogistic(mean, cov).learn_one(x, y)
    # Reference: Newton's method on the full log posterior, then its Hessian.
    precision, w = np.linalg.inv(cov), mean.copy()
    for _ in range(50):
        p = _sigmoid(x @ w)
        grad = -precision @ (w - mean) + (y - p) * x
        hess = -precision - p * (1 - p) * np.outer(x, x)
        w = w - np.linalg.solve(hess, grad)
    p = _sigmoid(x @ w)
    assert np.allclose(model.mean_, w, atol=1e-8)
    assert np.allclose(model.cov_, np.linalg.inv(precision + p * (1 - p) * np.outer(x, x)))
    assert model.predict_one(x) == pytest.approx(float(_sigmoid(x @ w)))


def test_online_updates_recover_the_true_weights() -> None:
    rng = np.random.default_rng(1)
    truth = np.array([-1.0, 1.5, -0.7])
    model = BayesLogistic(np.zeros(3), np.eye(3) * 4.0)
    for _ in range(6000):
        x = np.array([1.0, *rng.normal(size=2)])
        model.learn_one(x, int(rng.random() < _sigmoid(x @ truth)))
    sd = np.sqrt(np.diag(model.cov_))
    assert np.all(np.abs(model.mean_ - truth) < 4 * sd) and np.all(sd < 0.06)


def _policy(uplift: float, n_samples: int = 64, floor: float = 0.02) -> ContextualPolicy:
    """none: P(buy)=sigmoid(x0 w0); pct10 adds ``uplift`` on the logit; ship does nothing."""
    model = default_prior(2, ("none", "pct10", "ship"), {}, 1.0)
    mean = np.zeros(6)
    mean[0], mean[2] = -1.0, uplift
    model.mean_, model.cov_ = mean, np.eye(6) * 1e-6  # a confident posterior
    policy = ContextualPolicy(TERMS, model, n_samples=n_samples, floor=floor)
    policy.refresh(np.random.default_rng(0))
    return policy


def test_promo_suppression_pays_only_for_incremental_purchases() -> None:
    x = np.array([1.0, 0.0])
    # No uplift: a discount would be paid on purchases that happen anyway -> no offer.
    flat = _policy(uplift=0.0).probabilities(x, 40.0, (True, True))
    assert flat[0] == pytest.approx(1 - 0.02 + 0.02 / 3)
    # A large uplift on the logit scale pays for the discount -> pct10.
    strong = _policy(uplift=1.5).probabilities(x, 40.0, (True, True))
    assert strong[1] == pytest.approx(1 - 0.02 + 0.02 / 3)
    # With pct10 blocked, ship (no uplift, a fixed cost per redemption) is not worth it
    # either, and the blocked offer gets probability 0.
    blocked = _policy(uplift=1.5).probabilities(x, 40.0, (False, True))
    assert blocked[1] == 0.0 and blocked[0] == pytest.approx(1 - 0.02 + 0.02 / 2)


def test_logged_probability_is_the_probability_of_the_choice() -> None:
    rng = np.random.default_rng(5)
    model = default_prior(2, ("none", "pct10", "ship"), {}, 1.0)  # wide prior: real mixing
    policy = ContextualPolicy(TERMS, model, n_samples=32, floor=0.05)
    policy.refresh(rng)
    x = np.array([1.0, 0.3])
    probs = policy.probabilities(x, 60.0, (True, True))
    assert sum(probs) == pytest.approx(1.0) and min(probs) >= 0.05 / 3
    n = 40_000
    picks = np.bincount([pick(probs, u) for u in rng.random(n)], minlength=3)
    assert np.allclose(picks / n, probs, atol=4 * np.sqrt(0.25 / n))


def test_state_round_trips_and_refuses_another_shape() -> None:
    policy = _policy(uplift=0.7)
    policy.learn(1, np.array([1.0, 2.0]), 1)
    other = ContextualPolicy(TERMS, default_prior(2, ("none", "pct10", "ship"), {}, 1.0),
                             n_samples=8, floor=0.01)  # fmt: skip
    assert other.load_state(policy.state())
    assert np.array_equal(other.model.mean_, policy.model.mean_)
    assert not other.load_state({**policy.state(), "arms": ["none", "x", "y"]})
