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


def _laplace(
    mean: np.ndarray, cov: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reference: gradient ascent to the mode of the log posterior, then its Hessian."""
    precision, w = np.linalg.inv(cov), mean.copy()
    for _ in range(20_000):
        grad = -precision @ (w - mean) + x.T @ (y - _sigmoid(x @ w))
        w = w + 0.05 * grad
    p = _sigmoid(x @ w)
    return w, np.linalg.inv(precision + (x.T * (p * (1 - p))) @ x)


@pytest.mark.parametrize("rows", [1, 40])
def test_updates_are_the_exact_laplace_approximation(rows: int) -> None:
    rng = np.random.default_rng(rows)
    mean, a = rng.normal(size=3), rng.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    x = np.column_stack([np.ones(rows), rng.normal(size=(rows, 2))])
    y = (rng.random(rows) < 0.4).astype(float)
    want_mean, want_cov = _laplace(mean, cov, x, y)
    batch = BayesLogistic(mean, cov).learn_many(x, y)
    assert np.allclose(batch.mean_, want_mean, atol=1e-6)
    assert np.allclose(batch.cov_, want_cov, atol=1e-6)
    if rows == 1:  # the one-outcome update is the same approximation in closed form
        single = BayesLogistic(mean, cov).learn_one(x[0], int(y[0]))
        assert np.allclose(single.mean_, want_mean, atol=1e-6)
        assert np.allclose(single.cov_, want_cov, atol=1e-6)
        assert single.predict_one(x[0]) == pytest.approx(float(_sigmoid(x[0] @ want_mean)))


def test_online_updates_recover_the_true_weights() -> None:
    rng = np.random.default_rng(1)
    truth = np.array([-1.0, 1.5, -0.7])
    x = np.column_stack([np.ones(6000), rng.normal(size=(6000, 2))])
    y = (rng.random(6000) < _sigmoid(x @ truth)).astype(float)
    one = BayesLogistic(np.zeros(3), np.eye(3) * 4.0)
    for row, label in zip(x, y, strict=True):
        one.learn_one(row, int(label))
    batches = BayesLogistic(np.zeros(3), np.eye(3) * 4.0)
    for start in range(0, 6000, 500):  # as the runtime learns: a batch per maintenance round
        batches.learn_many(x[start : start + 500], y[start : start + 500])
    for model in (one, batches):
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


def test_batch_learning_on_blocks_equals_the_joint_laplace_update() -> None:
    rng = np.random.default_rng(9)
    arms = rng.integers(0, 3, size=300)
    xs = np.column_stack([np.ones(300), rng.normal(size=300)])
    ys = (rng.random(300) < _sigmoid(xs[:, 1] + 0.8 * (arms == 1))).astype(int)
    policy = ContextualPolicy(TERMS, default_prior(2, ("none", "pct10", "ship"), {}, 1.0),
                              n_samples=4, floor=0.01)  # fmt: skip
    joint = default_prior(2, ("none", "pct10", "ship"), {}, 1.0)
    joint.learn_many(np.stack([policy.features(a, x) for a, x in zip(arms, xs, strict=True)]),
                     ys.astype(float))  # fmt: skip
    policy.learn_batch([(int(a), x, int(y)) for a, x, y in zip(arms, xs, ys, strict=True)])
    assert np.allclose(policy.model.mean_, joint.mean_, atol=1e-8)
    assert np.allclose(policy.model.cov_, joint.cov_, atol=1e-10)
    assert policy.model.mean_[2] == pytest.approx(0.8, abs=0.45)  # pct10's uplift on the logit


def test_state_round_trips_and_refuses_another_shape() -> None:
    policy = _policy(uplift=0.7)
    policy.learn(1, np.array([1.0, 2.0]), 1)
    other = ContextualPolicy(TERMS, default_prior(2, ("none", "pct10", "ship"), {}, 1.0),
                             n_samples=8, floor=0.01)  # fmt: skip
    assert other.load_state(policy.state())
    assert np.array_equal(other.model.mean_, policy.model.mean_)
    assert not other.load_state({**policy.state(), "arms": ["none", "x", "y"]})
