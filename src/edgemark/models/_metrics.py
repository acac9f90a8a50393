"""Evaluation metrics: AUC with DeLong intervals, log loss, Brier, ECE, calibration, ranking.

numpy and the standard library only, so the same figures can be computed anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import ModelError

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-15


def _binary(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    labels = np.asarray(y, dtype=np.float64).ravel()
    probs = np.asarray(p, dtype=np.float64).ravel()
    if labels.shape != probs.shape or labels.size == 0:
        raise ModelError(f"Need as many labels as scores (got {labels.size} and {probs.size}).")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ModelError("Labels must be 0 or 1.")
    if not np.isfinite(probs).all():
        raise ModelError("Scores must be finite numbers.")
    return labels, probs


def _midranks(x: FloatArray) -> FloatArray:
    """1-based ranks with ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    out = np.empty(x.size, dtype=np.float64)
    out[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return out


def _delong_parts(y: FloatArray, p: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """AUC and its DeLong structural components (Sun & Xu 2014, fast midrank form)."""
    pos, neg = p[y == 1.0], p[y == 0.0]
    m, n = pos.size, neg.size
    if m == 0 or n == 0:
        raise ModelError("AUC needs both positive and negative labels.")
    all_ranks = _midranks(np.concatenate([pos, neg]))
    v01 = (all_ranks[:m] - _midranks(pos)) / n
    v10 = 1.0 - (all_ranks[m:] - _midranks(neg)) / m
    auc = float((all_ranks[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    return auc, v01, v10


def _z(level: float) -> float:
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def auc_delong(
    y: npt.ArrayLike, p: npt.ArrayLike, level: float = 0.95
) -> tuple[float, float, float]:
    """ROC AUC with a DeLong confidence interval: ``(auc, low, high)``.

    >>> auc_delong([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])[0]
    0.75
    """
    auc, v01, v10 = _delong_parts(*_binary(y, p))
    var = _var(v01) / v01.size + _var(v10) / v10.size
    half = _z(level) * float(np.sqrt(max(var, 0.0)))
    return auc, max(0.0, auc - half), min(1.0, auc + half)


def auc_difference(
    y: npt.ArrayLike, p_a: npt.ArrayLike, p_b: npt.ArrayLike, level: float = 0.95
) -> tuple[float, float, float]:
    """AUC(a) - AUC(b) on the same rows with a paired DeLong interval: ``(delta, low, high)``."""
    labels, a = _binary(y, p_a)
    _, b = _binary(y, p_b)
    auc_a, a01, a10 = _delong_parts(labels, a)
    auc_b, b01, b10 = _delong_parts(labels, b)
    var = _var(a01 - b01) / a01.size + _var(a10 - b10) / a10.size
    half = _z(level) * float(np.sqrt(max(var, 0.0)))
    delta = auc_a - auc_b
    return delta, delta - half, delta + half


def _var(x: FloatArray) -> float:
    return float(np.var(x, ddof=1)) if x.size > 1 else 0.0


def log_loss(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of 0/1 labels under probabilities ``p`` (clipped 1e-15)."""
    labels, probs = _binary(y, p)
    q = np.clip(probs, _EPS, 1.0 - _EPS)
    return float(-np.mean(labels * np.log(q) + (1.0 - labels) * np.log1p(-q)))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean squared difference between probability and 0/1 outcome."""
    labels, probs = _binary(y, p)
    return float(np.mean((probs - labels) ** 2))


def calibration_bins(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> list[dict[str, Any]]:
    """Equal-width probability bins: ``lo, hi, n, mean_predicted, observed_rate`` (empty skipped).

    >>> calibration_bins([0, 1], [0.05, 0.95], n_bins=2)[1]["observed_rate"]
    1.0
    """
    labels, probs = _binary(y, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, probs, side="right") - 1, 0, n_bins - 1)
    out = []
    for b in range(n_bins):
        mask = index == b
        if mask.any():
            out.append(
                {
                    "lo": float(edges[b]),
                    "hi": float(edges[b + 1]),
                    "n": int(mask.sum()),
                    "mean_predicted": float(probs[mask].mean()),
                    "observed_rate": float(labels[mask].mean()),
                }
            )
    return out


def ece(y: npt.ArrayLike, p: npt.ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error: bin-size-weighted mean |predicted - observed| (equal width)."""
    bins = calibration_bins(y, p, n_bins)
    total = sum(b["n"] for b in bins)
    return float(sum(b["n"] * abs(b["mean_predicted"] - b["observed_rate"]) for b in bins) / total)


def bootstrap_interval(
    statistic: Callable[[FloatArray, FloatArray], float],
    y: npt.ArrayLike,
    p: npt.ArrayLike,
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(y, p)`` over resampled rows."""
    labels, probs = _binary(y, p)
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot, dtype=np.float64)
    for i in range(n_boot):
        idx = rng.integers(0, labels.size, labels.size)
        values[i] = statistic(labels[idx], probs[idx])
    lo, hi = np.quantile(values, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def binary_report(
    y: npt.ArrayLike, p: npt.ArrayLike, *, n_boot: int = 200, seed: int = 0, n_bins: int = 10
) -> dict[str, Any]:
    """AUC (DeLong 95% interval), log loss, Brier and ECE (bootstrap 95% intervals)."""
    labels, probs = _binary(y, p)
    auc, lo, hi = auc_delong(labels, probs)
    out: dict[str, Any] = {"auc": {"value": auc, "low": lo, "high": hi, "method": "delong"}}
    stats: dict[str, Callable[[FloatArray, FloatArray], float]] = {
        "log_loss": log_loss,
        "brier": brier,
        "ece": lambda a, b: ece(a, b, n_bins),
    }
    for name, fn in stats.items():
        low, high = bootstrap_interval(fn, labels, probs, n_boot=n_boot, seed=seed)
        out[name] = {"value": fn(labels, probs), "low": low, "high": high, "method": "bootstrap"}
    out["n"] = int(labels.size)
    out["positive_rate"] = float(labels.mean())
    return out


def rank_of_truth(scores: npt.ArrayLike, truth: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """1-based rank of the true class in each row of ``scores`` (ties count against it)."""
    s = np.asarray(scores, dtype=np.float64)
    t = np.asarray(truth, dtype=np.int64)
    own = s[np.arange(t.size), t]
    return np.asarray((s >= own[:, None]).sum(axis=1), dtype=np.int64)


def ndcg_at_k(scores: npt.ArrayLike, truth: npt.ArrayLike, k: int = 5) -> float:
    """Mean NDCG@k with one relevant class per row: ``1/log2(rank+1)`` if rank <= k, else 0.

    >>> ndcg_at_k([[0.1, 0.9], [0.8, 0.2]], [1, 1], k=5)
    0.8154648767857288
    """
    ranks = rank_of_truth(scores, truth)
    gains = np.where(ranks <= k, 1.0 / np.log2(ranks + 1.0), 0.0)
    return float(gains.mean())


def hit_rate_at_k(scores: npt.ArrayLike, truth: npt.ArrayLike, k: int = 5) -> float:
    """Share of rows whose true class is among the top ``k`` scores."""
    return float((rank_of_truth(scores, truth) <= k).mean())
