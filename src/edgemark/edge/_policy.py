"""Beta-Bernoulli Thompson sampling over a bundle's offers, with exact logged propensities.

Thompson sampling picks arm a with probability pi_a = P(a has the highest conversion rate
under the posterior). We estimate pi by Monte Carlo (``n_draws`` vectorised Beta draws, one
numpy call), smooth it with +0.5 per arm so every arm keeps a positive propensity, cache it,
and then *sample the arm from pi*. The logged probability is therefore exactly the
probability with which the arm was chosen (what off-policy evaluation needs), and a
decision costs one uniform draw. pi is re-estimated after ``refresh_every`` posterior
updates (``refresh_every=None``: only when the owner calls ``refresh``, which the edge
runtime does off the hot path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from edgemark.errors import EdgeError


class ThompsonPolicy:
    """Thompson sampling over ``offers`` with Beta(prior_alpha, prior_beta) priors.

    >>> policy = ThompsonPolicy(("a", "b"), 1.0, 1.0, np.random.default_rng(0))
    >>> index, probability = policy.choose()
    >>> index in (0, 1) and 0.0 < probability < 1.0
    True
    """

    def __init__(
        self,
        offers: Sequence[str],
        prior_alpha: float,
        prior_beta: float,
        rng: np.random.Generator,
        *,
        n_draws: int = 1024,
        refresh_every: int | None = 128,
    ) -> None:
        if not offers:
            raise EdgeError("A Thompson policy needs at least one offer; the bundle lists none.")
        if not (prior_alpha > 0 and prior_beta > 0):
            raise EdgeError(
                f"Beta prior must be positive, got alpha={prior_alpha}, beta={prior_beta}; "
                "fix prior_alpha/prior_beta in the bundle policy."
            )
        self.offers = tuple(offers)
        self.prior_alpha = float(prior_alpha)
        self.prior_beta = float(prior_beta)
        self.exposures = np.zeros(len(self.offers), dtype=np.float64)
        self.conversions = np.zeros(len(self.offers), dtype=np.float64)
        self._rng = rng
        self._n_draws = n_draws
        self._refresh_every = refresh_every
        self._since_refresh = 0
        self._cdf = np.empty(len(self.offers), dtype=np.float64)
        self._pi = np.empty(len(self.offers), dtype=np.float64)
        self.pi_list: list[float] = []
        self.refresh()

    def load_counts(self, counts: Mapping[str, tuple[float, float]]) -> None:
        """Set (exposures, conversions) per offer id; offers not in ``counts`` start at 0."""
        for i, offer in enumerate(self.offers):
            exposures, conversions = counts.get(offer, (0.0, 0.0))
            self.exposures[i] = exposures
            self.conversions[i] = min(conversions, exposures)
        self.refresh()

    def counts(self) -> dict[str, tuple[float, float]]:
        """(exposures, conversions) per offer id."""
        return {
            o: (float(self.exposures[i]), float(self.conversions[i]))
            for i, o in enumerate(self.offers)
        }

    @property
    def stale(self) -> bool:
        """True if the posterior changed since pi was last estimated."""
        return self._since_refresh > 0

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the posterior parameters (alpha, beta) per offer."""
        alpha = self.prior_alpha + self.conversions
        beta = self.prior_beta + np.maximum(self.exposures - self.conversions, 0.0)
        return alpha, beta

    def estimate(self, alpha: np.ndarray, beta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """pi = P(argmax = a) from ``n_draws`` draws of Beta(alpha, beta), smoothed +0.5."""
        draws = rng.beta(alpha, beta, size=(self._n_draws, len(self.offers)))
        wins = np.bincount(draws.argmax(axis=1), minlength=len(self.offers))
        smoothed = wins + 0.5
        pi: np.ndarray = smoothed / smoothed.sum()
        return pi

    def install(self, pi: np.ndarray) -> None:
        """Use ``pi`` (from ``estimate``) for the next choices."""
        cdf = np.cumsum(pi)
        cdf[-1] = 1.0
        self._pi, self._cdf = pi, cdf
        self.pi_list = pi.tolist()  # plain floats for the hot path's masked draw
        self._since_refresh = 0

    def refresh(self) -> None:
        """Re-estimate pi from the current posterior with the policy's own generator."""
        self.install(self.estimate(*self.snapshot(), self._rng))

    def probabilities(self) -> np.ndarray:
        """The current choice probabilities pi (a copy)."""
        return self._pi.copy()

    def choose(self) -> tuple[int, float]:
        """Pick an offer index with probability pi; return it and that probability."""
        index = int(np.searchsorted(self._cdf, self._rng.random(), side="right"))
        index = min(index, len(self.offers) - 1)
        return index, float(self._pi[index])

    def record_exposure(self, index: int) -> None:
        """Count one exposure of offer ``index`` (called when the offer is decided)."""
        self.exposures[index] += 1.0
        self._count_update()

    def record_conversion(self, index: int) -> None:
        """Count one conversion of offer ``index``."""
        if self.conversions[index] < self.exposures[index]:
            self.conversions[index] += 1.0
        self._count_update()

    def _count_update(self) -> None:
        self._since_refresh += 1
        if self._refresh_every is not None and self._since_refresh >= self._refresh_every:
            self.refresh()
