"""Simulated weekly channel spend and sales with known adstock, saturation and ROAS.

The data-generating process is the one a Bayesian MMM assumes (PyMC-Marketing's geometric
adstock, normalised over ``l_max`` weeks, then logistic saturation of spend scaled by the
channel's maximum): a channel adds ``beta * sat(adstock(spend / max_spend), lam)`` to the
week's sales, on top of a baseline, a yearly season, a promotion control and noise. The
true ROAS of a channel is its total contribution over the period divided by its spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import SimError

FloatArray = npt.NDArray[np.float64]
_WEEK_S = 7 * 86400
_DEFAULT_START = 1704067200  # 2024-01-01 00:00 UTC, a Monday


@dataclass(frozen=True, slots=True)
class MediaChannel:
    """A channel's spend level and its true response (``beta``: the most it can add to a
    week's sales; ``lam``: how fast it saturates; ``alpha``: weekly carry-over)."""

    name: str
    mean_spend: float
    beta: float
    lam: float
    alpha: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.alpha < 1.0 and self.lam > 0 and self.beta >= 0):
            raise SimError(f"channel {self.name!r}: need 0 <= alpha < 1, lam > 0, beta >= 0")
        if not self.mean_spend > 0:
            raise SimError(f"channel {self.name!r}: mean_spend must be > 0")


DEFAULT_MEDIA: tuple[MediaChannel, ...] = (
    MediaChannel("tv", 400.0, 900.0, 2.0, 0.6),
    MediaChannel("search", 250.0, 700.0, 3.0, 0.1),
    MediaChannel("social", 150.0, 300.0, 1.5, 0.3),
    MediaChannel("display", 100.0, 150.0, 1.0, 0.2),
    MediaChannel("email", 40.0, 250.0, 4.0, 0.0),
)


def geometric_adstock(x: FloatArray, alpha: float, l_max: int) -> FloatArray:
    """Carry-over with weights ``alpha**l`` (l < l_max), normalised to sum to 1."""
    weights = alpha ** np.arange(l_max)
    weights /= weights.sum()
    out: FloatArray = np.convolve(x, weights)[: x.size]
    return out


def logistic_saturation(x: FloatArray, lam: float) -> FloatArray:
    """``(1 - exp(-lam x)) / (1 + exp(-lam x))``: 0 at 0, approaching 1."""
    out: FloatArray = (1.0 - np.exp(-lam * x)) / (1.0 + np.exp(-lam * x))
    return out


@dataclass(frozen=True, slots=True)
class MediaData:
    """Weekly rows: dates (ISO), spend per channel, promotion flag, sales, and the truth."""

    dates: tuple[str, ...]
    spend: dict[str, FloatArray]
    promo: FloatArray
    sales: FloatArray
    contributions: dict[str, FloatArray]
    channels: tuple[MediaChannel, ...] = field(default=())

    def true_roas(self) -> dict[str, float]:
        """Per channel: total contribution over the period / total spend."""
        return {c: float(self.contributions[c].sum() / self.spend[c].sum()) for c in self.spend}

    def rows(self) -> list[dict[str, Any]]:
        """One dict per week (``date``, each channel's spend, ``promo``, ``sales``)."""
        return [
            {
                "date": d,
                **{c: round(float(s[t]), 2) for c, s in self.spend.items()},
                "promo": int(self.promo[t]),
                "sales": round(float(self.sales[t]), 2),
            }
            for t, d in enumerate(self.dates)
        ]


def simulate_media(
    weeks: int = 104,
    channels: tuple[MediaChannel, ...] = DEFAULT_MEDIA,
    *,
    seed: int = 0,
    baseline: float = 2000.0,
    noise: float = 60.0,
    l_max: int = 8,
) -> MediaData:
    """Weekly spend (flighted: some weeks dark) and sales with known channel effects.

    Examples
    --------
    >>> data = simulate_media(52, seed=1)
    >>> len(data.dates), sorted(data.true_roas()) == sorted(c.name for c in DEFAULT_MEDIA)
    (52, True)
    """
    if weeks < 8 or not channels:
        raise SimError(f"need at least 8 weeks and one channel, got {weeks} and {len(channels)}")
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    dates = tuple(
        np.datetime_as_string(np.datetime64(_DEFAULT_START + int(w) * _WEEK_S, "s"), unit="D")
        for w in t
    )
    promo = (rng.random(weeks) < 0.1).astype(np.float64)
    season = 0.08 * baseline * np.sin(2 * np.pi * t / 52.18) + 0.04 * baseline * np.cos(
        4 * np.pi * t / 52.18
    )
    sales = baseline + season + 0.1 * baseline * promo + rng.normal(0.0, noise, weeks)
    spend: dict[str, FloatArray] = {}
    contributions: dict[str, FloatArray] = {}
    for ch in channels:
        on = rng.random(weeks) < 0.75
        x = np.where(on, ch.mean_spend / 0.75 * rng.lognormal(-0.18, 0.6, weeks), 0.0)
        scaled = x / x.max()
        contribution = ch.beta * logistic_saturation(
            geometric_adstock(scaled, ch.alpha, l_max), ch.lam
        )
        spend[ch.name], contributions[ch.name] = x, contribution
        sales = sales + contribution
    return MediaData(dates, spend, promo, sales, contributions, channels)
