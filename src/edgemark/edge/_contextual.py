"""Contextual Thompson sampling over incremental value, with exact logged propensities.

Each arm (``none`` and every offer) has a Bayesian logistic model of P(purchase | x, arm):
a Gaussian posterior N(m, S) over weights, updated one outcome at a time with the Laplace
approximation (the exact mode of prior x likelihood along x, and a rank-one precision
update). The context x is [1, logit(score), log1p(features)...]; no personalization
consent gives x = [1, 0, ...] (context alone).

Promo suppression: for a user with basket B, offer k is worth
``p_k (B (margin - discount_k) - cost_k) - p_none B margin`` (the discount is paid on every
redeemed purchase, including those that would have happened anyway), the no-offer arm 0.

Thompson sampling is run as an ensemble: off the hot path ``refresh`` draws S weight
vectors per arm from the posteriors. A decision picks one of the S draws uniformly and plays
its best arm. The probability of each arm is then exactly the share of draws in which it is
best, computed in one pass (one matmul), mixed with ``floor`` spread over the allowed arms
so every allowed arm keeps a positive propensity. The arm is sampled from that mixture, so
the logged probability is exactly the probability with which it was chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from edgemark.edge._settings import OfferTerms, Prior
from edgemark.errors import EdgeError

FloatArray = npt.NDArray[np.float64]
_CLIP = 1e-6
_LOGIT_CAP = 35.0  # sigmoid(35) = 1 - 6e-16: nothing is lost by clipping there


def context_size(n_features: int) -> int:
    """Length of the context vector for ``n_features`` online features."""
    return 2 + n_features


def score_logit(score: float) -> float:
    """logit of a probability, clipped so 0 and 1 stay finite."""
    p = min(max(score, _CLIP), 1.0 - _CLIP)
    return math.log(p / (1.0 - p))


class BayesLogistic:
    """Gaussian posterior over logistic-regression weights, learned one outcome at a time.

    >>> model = BayesLogistic(np.zeros(2), np.eye(2))
    >>> for _ in range(200):
    ...     _ = model.learn_one(np.array([1.0, 0.0]), 1)
    >>> model.predict_one(np.array([1.0, 0.0])) > 0.95
    True
    """

    def __init__(self, mean: FloatArray, cov: FloatArray) -> None:
        self.mean = mean
        self.cov = cov
        self.mean_ = np.array(mean, dtype=np.float64)
        self.cov_ = np.array(cov, dtype=np.float64)
        self.n_ = 0

    def learn_one(self, x: FloatArray, y: int) -> Self:
        """Laplace update with one outcome ``y`` (0 or 1) at context ``x``."""
        sx = self.cov_ @ x
        v = float(x @ sx)
        mu = float(x @ self.mean_)
        s = mu
        for _ in range(30):  # Newton on s = mu + (y - sigmoid(s)) v, a 1-d convex problem
            p = _sigmoid(s)
            step = (s - mu - (y - p) * v) / (1.0 + p * (1.0 - p) * v)
            s -= step
            if abs(step) < 1e-10:
                break
        p = _sigmoid(s)
        lam = p * (1.0 - p)
        self.mean_ = self.mean_ + (y - p) * sx
        cov = self.cov_ - (lam / (1.0 + lam * v)) * np.outer(sx, sx)
        self.cov_ = 0.5 * (cov + cov.T)
        self.n_ += 1
        return self

    def learn_many(self, x: FloatArray, y: npt.NDArray[np.float64], max_iter: int = 25) -> Self:
        """Laplace update with a batch of outcomes (rows of ``x``, labels ``y``) at once.

        The exact Laplace approximation of prior x batch likelihood: Newton's method finds
        the mode, the Hessian there is the new precision. Cheaper per outcome than
        ``learn_one`` for wide contexts, and no order dependence inside the batch.
        """
        if len(y) == 0:
            return self
        precision = np.linalg.inv(self.cov_)
        m = self.mean_
        w = m.copy()
        for _ in range(max_iter):
            p = _expit(x @ w)
            grad = precision @ (w - m) - x.T @ (y - p)
            hess = precision + (x.T * (p * (1.0 - p))) @ x
            step = np.linalg.solve(hess, grad)
            w = w - step
            if float(np.max(np.abs(step))) < 1e-8:
                break
        p = _expit(x @ w)
        hess = precision + (x.T * (p * (1.0 - p))) @ x
        cov = np.linalg.inv(hess)
        self.mean_, self.cov_ = w, 0.5 * (cov + cov.T)
        self.n_ += len(y)
        return self

    def predict_one(self, x: FloatArray) -> float:
        """P(y=1 | x) at the posterior mean (no side effects)."""
        return _sigmoid(float(x @ self.mean_))

    def sample(self, rng: np.random.Generator, n: int) -> FloatArray:
        """``n`` draws of the weights from the posterior, shape (n, d)."""
        try:
            chol = np.linalg.cholesky(self.cov_)
        except np.linalg.LinAlgError:  # numerical drift: fall back to the diagonal
            chol = np.diag(np.sqrt(np.clip(np.diag(self.cov_), 1e-12, None)))
        draws: FloatArray = self.mean_ + rng.standard_normal((n, len(self.mean_))) @ chol.T
        return draws

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state."""
        return {"mean": self.mean_.tolist(), "cov": self.cov_.tolist(), "n": self.n_}

    def load(self, state: Mapping[str, Any]) -> bool:
        """Restore ``to_dict`` state; False (and unchanged) if its dimension differs."""
        mean = np.asarray(state.get("mean", []), dtype=np.float64)
        cov = np.asarray(state.get("cov", []), dtype=np.float64)
        if mean.shape != self.mean_.shape or cov.shape != self.cov_.shape:
            return False
        self.mean_, self.cov_, self.n_ = mean, cov, int(state.get("n", 0))
        return True


def _expit(z: FloatArray) -> FloatArray:
    """Logistic function of an array, without overflow warnings for large |z|."""
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(z, -_LOGIT_CAP, _LOGIT_CAP)))
    return out


def _sigmoid(s: float) -> float:
    if s >= 0:
        return 1.0 / (1.0 + math.exp(-s))
    e = math.exp(s)
    return e / (1.0 + e)


def default_prior(
    dim: int, arms: Sequence[str], priors: Mapping[str, Prior], variance: float
) -> BayesLogistic:
    """The joint prior: the bundle's per-arm priors, else "offers do nothing".

    The weight vector is [w_none, d_1, ..., d_K] with P(buy | x, offer k) = sigmoid((w_none +
    d_k) . x): every outcome informs the baseline w_none, and an offer's own data only has
    to learn its difference d_k (the uplift, on the logit scale). By default w_none puts
    weight 1 on logit(score) (the propensity model is the baseline) and every d_k is 0, so
    offers start with no uplift and the policy suppresses them until evidence says
    otherwise.
    """
    means, variances = [], []
    for index, arm in enumerate(arms):
        prior = priors.get(arm)
        if prior is not None:
            if len(prior.mean) != dim:
                raise EdgeError(
                    f"Bundle prior for arm {arm!r} has {len(prior.mean)} weights; the context "
                    f"has {dim} (1 bias, 1 score, {dim - 2} features)."
                )
            means.append(np.array(prior.mean))
            variances.append(np.array(prior.variance))
            continue
        mean, var = np.zeros(dim), np.full(dim, 0.1 * variance)
        if index == 0:
            mean[1] = 1.0
            var[0], var[1] = variance, 0.25 * variance
        else:
            var[0] = 0.5 * variance  # an offer's overall effect is less certain than a slope
        means.append(mean)
        variances.append(var)
    return BayesLogistic(np.concatenate(means), np.diag(np.concatenate(variances)))


class ContextualPolicy:
    """Ensemble Thompson sampling over ``("none", *offers)`` maximising incremental value."""

    def __init__(
        self,
        terms: Sequence[OfferTerms],
        model: BayesLogistic,
        *,
        n_samples: int,
        floor: float,
    ) -> None:
        self.arms = ("none", *(t.id for t in terms))
        n = len(self.arms)
        if len(model.mean_) % n:
            raise EdgeError("A contextual policy's weights must be (1 + offers) x context size.")
        self.model = model
        self.dim = len(model.mean_) // n
        self.n_samples = n_samples
        self.floor = floor
        margin = np.array([0.0, *(t.margin_rate for t in terms)])
        discount = np.array([0.0, *(t.discount for t in terms)])
        cost = np.array([0.0, *(t.cost for t in terms)])
        # value = P @ (B * per_basket - fixed): column k is offer k's value, column 0 is 0.
        self._per_basket = np.zeros((n, n))
        self._fixed = np.zeros((n, n))
        for k in range(1, n):
            self._per_basket[k, k] = margin[k] - discount[k]
            self._per_basket[0, k] = -margin[k]
            self._fixed[k, k] = cost[k]
        self._half_w = np.zeros((n_samples * n, self.dim))
        self._buf = np.empty(n_samples * n)
        self._open: dict[tuple[bool, ...], tuple[list[int], FloatArray | None]] = {}

    def refresh(self, rng: np.random.Generator) -> None:
        """Draw a new ensemble from the posterior (off the hot path); swapped in one step."""
        n = len(self.arms)
        draws = self.model.sample(rng, self.n_samples).reshape(self.n_samples, n, self.dim)
        draws[:, 1:, :] += draws[:, :1, :]  # offer k's weights are w_none + d_k
        # Halved: sigmoid(w.x) = (1 + tanh(w.x / 2)) / 2, and tanh never overflows.
        self._half_w = 0.5 * draws.reshape(self.n_samples * n, self.dim)

    def probabilities(self, x: FloatArray, basket: float, allowed: Sequence[bool]) -> list[float]:
        """Choice probability of every arm for context ``x`` (blocked offers get 0)."""
        n = len(self.arms)
        weights = self._half_w  # one reference: a concurrent refresh swaps it whole
        buf = self._buf if len(self._buf) == len(weights) else np.empty(len(weights))
        np.matmul(weights, x, out=buf)
        np.tanh(buf, out=buf)
        buf += 1.0  # 2 P(buy) per (draw, arm); the factor 2 does not move any argmax
        values = buf.reshape(-1, n) @ (basket * self._per_basket - self._fixed)
        key = tuple(allowed)
        arms = self._open.get(key)
        if arms is None:
            arms = self._open[key] = self._arms_open(key)
        open_arms, penalty = arms
        if penalty is not None:
            values += penalty  # -inf on blocked arms
        wins = np.bincount(values.argmax(axis=1), minlength=n).tolist()
        total = float(sum(wins))
        spread = self.floor / len(open_arms)
        keep = 1.0 - self.floor
        probs = [0.0] * n
        for a in open_arms:
            probs[a] = keep * wins[a] / total + spread
        return probs

    def _arms_open(self, allowed: tuple[bool, ...]) -> tuple[list[int], FloatArray | None]:
        """The arms a decision may take (none and the allowed offers) and the penalty row."""
        n = len(self.arms)
        open_arms = [0, *(k + 1 for k, ok in enumerate(allowed) if ok)]
        if len(open_arms) == n:
            return open_arms, None
        penalty = np.zeros(n)
        penalty[[a for a in range(n) if a not in open_arms]] = -np.inf
        return open_arms, penalty

    def features(self, arm: int, x: FloatArray) -> FloatArray:
        """The joint model's input for context ``x`` on arm ``arm``: [x, 0.., x at d_arm, 0..]."""
        phi = np.zeros(len(self.model.mean_))
        phi[: self.dim] = x
        if arm:
            phi[arm * self.dim : (arm + 1) * self.dim] = x
        return phi

    def learn(self, arm: int, x: FloatArray, y: int) -> None:
        """Fold one resolved outcome (arm ``arm`` was shown at context ``x``) into the posterior."""
        self.model.learn_one(self.features(arm, x), y)

    def learn_batch(self, outcomes: Sequence[tuple[int, FloatArray, int]]) -> None:
        """Fold a batch of (arm shown, context, outcome) in with one Laplace update.

        Same result as ``model.learn_many`` on the joint inputs (tested), but Newton's
        method runs on the blocks: a row touches only w_none and its arm's d_k, so the
        Hessian costs n * d**2 instead of n * (arms * d)**2.
        """
        if not outcomes:
            return
        n_arms, d = len(self.arms), self.dim
        arms = np.array([a for a, _x, _y in outcomes], dtype=np.int64)
        xs = np.stack([x for _a, x, _y in outcomes])
        ys = np.array([float(y) for _a, _x, y in outcomes])
        groups = [(a, np.flatnonzero(arms == a)) for a in range(n_arms)]
        groups = [(a, rows) for a, rows in groups if len(rows)]
        model = self.model
        precision: FloatArray = np.asarray(np.linalg.inv(model.cov_), dtype=np.float64)
        prior = model.mean_
        theta = prior.copy()
        for _ in range(25):
            grad, hess = precision @ (theta - prior), precision.copy()
            self._add_likelihood(theta, xs, ys, groups, grad, hess)
            step = np.linalg.solve(hess, grad)
            theta = theta - step
            if float(np.max(np.abs(step))) < 1e-8:
                break
        hess = precision.copy()
        self._add_likelihood(theta, xs, ys, groups, np.zeros(n_arms * d), hess)
        cov = np.linalg.inv(hess)
        model.mean_, model.cov_ = theta, 0.5 * (cov + cov.T)
        model.n_ += len(ys)

    def _add_likelihood(
        self,
        theta: FloatArray,
        xs: FloatArray,
        ys: FloatArray,
        groups: list[tuple[int, npt.NDArray[np.int64]]],
        grad: FloatArray,
        hess: FloatArray,
    ) -> None:
        """Add the batch's negative log-likelihood gradient and Hessian, block by block."""
        d = self.dim
        base = theta[:d]
        for arm, rows in groups:
            x = xs[rows]
            weights = base if arm == 0 else base + theta[arm * d : (arm + 1) * d]
            p = _expit(x @ weights)
            r = x.T @ (p - ys[rows])
            s = (x.T * (p * (1.0 - p))) @ x
            grad[:d] += r
            hess[:d, :d] += s
            if arm:
                block = slice(arm * d, (arm + 1) * d)
                grad[block] += r
                hess[block, block] += s
                hess[:d, block] += s
                hess[block, :d] += s

    def state(self) -> dict[str, Any]:
        """JSON-safe posterior, with the arm order it belongs to."""
        return {"arms": list(self.arms), "dim": self.dim, **self.model.to_dict()}

    def load_state(self, state: Mapping[str, Any]) -> bool:
        """Restore a posterior saved by ``state``; False (prior kept) if arms or size changed."""
        if list(state.get("arms", [])) != list(self.arms) or state.get("dim") != self.dim:
            return False
        return self.model.load(state)


def pick(probs: Sequence[float], u: float) -> int:
    """Index drawn from ``probs`` with the uniform number ``u`` in [0, 1)."""
    acc = 0.0
    last = 0
    for i, p in enumerate(probs):
        if p <= 0.0:
            continue
        acc += p
        last = i
        if u < acc:
            return i
    return last
