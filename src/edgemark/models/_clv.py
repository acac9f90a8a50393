"""Customer lifetime value: BG/NBD (purchase frequency) and Gamma-Gamma (spend), by MLE.

The log-likelihoods follow Fader, Hardie & Lee (2005) and Fader & Hardie (2013); the fits
maximise them with scipy over log-parameters. pandas and scipy are the ``train`` extra.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import ModelError

FloatArray = npt.NDArray[np.float64]
DAY = 86400.0


def rfm_summary(
    transactions: Any,
    customer: str,
    date: str,
    amount: str,
    *,
    observation_end: Any = None,
    unit_days: float = 1.0,
) -> Any:
    """Per customer: ``frequency`` (repeat periods), ``recency``, ``T``, ``monetary_value``.

    Purchases are grouped per day (several on one day are one purchase of their summed
    amount); ``recency`` is first to last purchase and ``T`` first purchase to
    ``observation_end`` (default: the last date), both in units of ``unit_days``;
    ``monetary_value`` is the mean amount of the repeat purchases (0 without any). Dates are
    parsed by pandas, or read as epoch seconds when the column is numeric.
    """
    pd = require("pandas", "train")
    missing = [c for c in (customer, date, amount) if c not in transactions.columns]
    if missing:
        raise ModelError(f"Transactions lack column(s) {', '.join(missing)}.")
    if len(transactions) == 0:
        raise ModelError("The transactions table is empty.")
    days = _days(pd, transactions[date])
    end = (
        float(days.max()) if observation_end is None else _days(pd, pd.Series([observation_end]))[0]
    )
    values = pd.to_numeric(transactions[amount], errors="coerce")
    if values.isna().any():
        raise ModelError(f"Column {amount!r} has {int(values.isna().sum())} non-numeric values.")
    per_day = (
        pd.DataFrame({"c": transactions[customer].astype(str), "d": np.floor(days), "m": values})
        .groupby(["c", "d"], sort=True)["m"]
        .sum()
        .reset_index()
    )
    if (per_day["d"] > end).any():
        raise ModelError("Some transactions are after observation_end; choose a later end.")
    first = per_day.groupby("c")["d"].transform("min")
    repeat = per_day[per_day["d"] > first]
    g = per_day.groupby("c")
    out = pd.DataFrame(
        {
            "frequency": g.size() - 1,
            "recency": (g["d"].max() - g["d"].min()) / unit_days,
            "T": (np.floor(end) - g["d"].min()) / unit_days,
        }
    )
    out["monetary_value"] = repeat.groupby("c")["m"].mean().reindex(out.index).fillna(0.0)
    out.index.name = customer
    return out


def _days(pd: Any, column: Any) -> FloatArray:
    """Days since the epoch (UTC) of a date column or of epoch seconds."""
    if pd.api.types.is_numeric_dtype(column):
        return np.asarray(column, dtype=np.float64) / DAY
    try:
        stamps = pd.to_datetime(column, utc=True)
    except (ValueError, TypeError) as exc:
        raise ModelError(f"Cannot parse dates: {exc}") from None
    seconds = (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return np.asarray(seconds, dtype=np.float64) / DAY


def bgnbd_log_likelihood(
    params: tuple[float, float, float, float], x: Any, t_x: Any, big_t: Any
) -> FloatArray:
    """Per-customer BG/NBD log-likelihood at ``(r, alpha, a, b)`` (Fader, Hardie & Lee 2005)."""
    special = require("scipy.special", "train")
    r, alpha, a, b = params
    x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (x, t_x, big_t))
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + big_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(
            x > 0,
            np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return np.asarray(a1 + a2 + np.logaddexp(a3, a4), dtype=np.float64)


def gamma_gamma_log_likelihood(params: tuple[float, float, float], x: Any, m: Any) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of mean spend ``m`` over ``x`` repeat purchases."""
    special = require("scipy.special", "train")
    p, q, v = params
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    px = p * x
    ll = (
        special.gammaln(px + q) - special.gammaln(px) - special.gammaln(q)
        + q * np.log(v) + (px - 1) * np.log(m) + px * np.log(x) - (px + q) * np.log(x * m + v)
    )  # fmt: skip
    return np.asarray(ll, dtype=np.float64)


def _fit(nll: Callable[[FloatArray], float], start: FloatArray, what: str) -> FloatArray:
    optimize = require("scipy.optimize", "train")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # overflow in trial points far from the optimum
        options = {"maxiter": 20000, "xatol": 1e-8, "fatol": 1e-10}
        res = optimize.minimize(nll, start, method="Nelder-Mead", options=options)
        res = optimize.minimize(nll, res.x, method="L-BFGS-B")
    if not np.isfinite(res.fun):
        raise ModelError(f"The {what} fit did not converge: {res.message}")
    return np.exp(np.asarray(res.x, dtype=np.float64))


@dataclass(frozen=True)
class BetaGeo:
    """Fitted BG/NBD parameters (time in the summary's units)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float

    def expected_purchases(self, t: float, x: Any, t_x: Any, big_t: Any) -> FloatArray:
        """Expected purchases in the next ``t`` periods given each history (FHL 2005, eq. 10)."""
        special = require("scipy.special", "train")
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (x, t_x, big_t))
        if abs(a - 1) < 1e-9:  # the closed form divides by a - 1
            raise ModelError("Expected purchases are undefined at a = 1 exactly; refit.")
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
        first = (a + b + x - 1) / (a - 1)
        second = 1 - hyp * ((alpha + big_t) / (alpha + big_t + t)) ** (r + x)
        alive_odds = np.where(
            x > 0,
            a / np.maximum(b + x - 1, 1e-300) * ((alpha + big_t) / (alpha + t_x)) ** (r + x),
            0,
        )
        return np.asarray(first * second / (1 + alive_odds), dtype=np.float64)


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma spend parameters."""

    p: float
    q: float
    v: float
    log_likelihood: float

    def expected_spend(self, x: Any, m: Any) -> FloatArray:
        """Expected mean spend per purchase given ``x`` repeat purchases of mean ``m``."""
        x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
        if self.q <= 1:
            raise ModelError(f"Expected spend needs q > 1 (fitted q = {self.q:.3f}).")
        return np.asarray(self.p * (self.v + x * m) / (self.p * x + self.q - 1), dtype=np.float64)


def fit_bgnbd(x: Any, t_x: Any, big_t: Any) -> BetaGeo:
    """Maximum-likelihood BG/NBD fit on frequency ``x``, recency ``t_x`` and age ``T``."""
    x, t_x, big_t = (np.asarray(v, dtype=np.float64) for v in (x, t_x, big_t))
    if x.size < 10 or not (np.all(x >= 0) and np.all(t_x >= 0) and np.all(t_x <= big_t)):
        raise ModelError("BG/NBD needs >= 10 customers with 0 <= recency <= T, frequency >= 0.")
    if x.sum() == 0:
        raise ModelError("No customer purchased twice, so BG/NBD cannot be fitted.")
    scale = float(big_t.max()) / 10.0  # fit in rescaled time; alpha scales back linearly

    def nll(theta: FloatArray) -> float:
        r, alpha, a, b = np.exp(theta)
        return -float(bgnbd_log_likelihood((r, alpha, a, b), x, t_x / scale, big_t / scale).sum())

    r, alpha, a, b = _fit(nll, np.zeros(4), "BG/NBD")
    params = (float(r), float(alpha) * scale, float(a), float(b))
    ll = float(bgnbd_log_likelihood(params, x, t_x, big_t).sum())
    return BetaGeo(*params, log_likelihood=ll)


def fit_gamma_gamma(x: Any, m: Any) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma fit on repeat customers (``x > 0``, ``m > 0``)."""
    x, m = np.asarray(x, dtype=np.float64), np.asarray(m, dtype=np.float64)
    keep = (x > 0) & (m > 0)
    if keep.sum() < 10:
        raise ModelError("Gamma-Gamma needs >= 10 repeat customers with positive spend.")
    x, m = x[keep], m[keep]
    scale = float(np.mean(m))

    def nll(theta: FloatArray) -> float:
        p, q, v = np.exp(theta)
        return -float(gamma_gamma_log_likelihood((p, q, v), x, m / scale).sum())

    p, q, v = _fit(nll, np.zeros(3), "Gamma-Gamma")
    params = (float(p), float(q), float(v) * scale)
    return GammaGamma(*params, log_likelihood=float(gamma_gamma_log_likelihood(params, x, m).sum()))


def clv_table(summary: Any, bg: BetaGeo, gg: GammaGamma, horizon: float) -> Any:
    """Per customer: expected purchases and expected value over ``horizon`` periods."""
    purchases = bg.expected_purchases(
        horizon, summary["frequency"], summary["recency"], summary["T"]
    )
    spend = gg.expected_spend(summary["frequency"], summary["monetary_value"])
    out = summary.copy()
    out["expected_purchases"] = purchases
    out["expected_spend"] = spend
    out["expected_value"] = purchases * spend
    return out
