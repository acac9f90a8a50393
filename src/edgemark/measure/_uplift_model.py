"""Uplift models for targeting (who to treat), on LightGBM (extra ``train``), and their metrics.

Two-model: one outcome model per group, uplift ``mu_1(x) - mu_0(x)``. Class transformation
(Jaskowski and Jaroszewicz 2012; binary outcomes): ``z = y t + (1 - y)(1 - t)`` with the
groups re-weighted to equal size, so ``uplift(x) = 2 P(z = 1 | x) - 1``. Metrics on a
held-out split, as scikit-uplift defines its curves (units ranked by predicted uplift, ties
kept together): the Qini curve ``Y_t(k) - Y_c(k) N_t(k) / N_c(k)``, the uplift curve
``(Y_t(k) / N_t(k) - Y_c(k) / N_c(k)) k``, the Qini coefficient and AUUC as the areas
between those curves and the random-targeting line, divided by ``n**2``, and uplift@k
(treated minus control mean among the top ``ceil(k n)`` units).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import MeasureError
from edgemark.measure._table import Codes, read_columns

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
METHODS: tuple[str, ...] = ("two_model", "class_transformation")
_PARAMS = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 100,
    "n_jobs": 1,
    "verbose": -1,
}


@dataclass(frozen=True, slots=True)
class UpliftModel:
    """A fitted uplift model; ``predict`` gives the estimated uplift per row."""

    method: str
    models: tuple[Any, ...]
    binary: bool

    def predict(self, x: FloatArray) -> FloatArray:
        """Estimated effect of treating each row of ``x``."""
        if self.method == "two_model":
            treated, control = (self._mean(m, x) for m in self.models)
            return treated - control
        out: FloatArray = 2.0 * self.models[0].predict_proba(x)[:, 1] - 1.0
        return out

    def _mean(self, model: Any, x: FloatArray) -> FloatArray:
        out: FloatArray = model.predict_proba(x)[:, 1] if self.binary else model.predict(x)
        return out


def fit_uplift_model(
    x: FloatArray, treated: BoolArray, y: FloatArray, method: str = "two_model", *, seed: int = 0
) -> UpliftModel:
    """Fit a two-model or class-transformation uplift model on LightGBM."""
    lgb = require("lightgbm", "train")
    binary = bool(np.isin(y, (0.0, 1.0)).all())
    if method == "two_model":
        kind = lgb.LGBMClassifier if binary else lgb.LGBMRegressor
        models = tuple(
            kind(**_PARAMS, random_state=seed).fit(
                x[group], y[group].astype(int) if binary else y[group]
            )
            for group in (treated, ~treated)
        )
        return UpliftModel(method, models, binary)
    if method == "class_transformation":
        if not binary:
            raise MeasureError(
                "class transformation needs a 0/1 outcome; use the two_model method for "
                "revenue-like outcomes"
            )
        share = float(treated.mean())
        z = np.where(treated, y, 1.0 - y).astype(int)
        weight = np.where(treated, 0.5 / share, 0.5 / (1.0 - share))
        model = lgb.LGBMClassifier(**_PARAMS, random_state=seed).fit(x, z, sample_weight=weight)
        return UpliftModel(method, (model,), binary)
    raise MeasureError(f"unknown uplift method {method!r}; known: {', '.join(METHODS)}")


def _cumulative(y: FloatArray, score: FloatArray, treated: BoolArray) -> tuple[FloatArray, ...]:
    """Counts and outcome sums of each group among the top-k units, at each distinct score."""
    order = np.argsort(score, kind="mergesort")[::-1]
    y, score, t = y[order], score[order], treated[order].astype(np.float64)
    cut = np.r_[np.flatnonzero(np.diff(score)), score.size - 1]
    n_t = np.cumsum(t)[cut]
    y_t = np.cumsum(y * t)[cut]
    y_c = np.cumsum(y * (1.0 - t))[cut]
    n_all = (cut + 1).astype(np.float64)
    return n_all, n_t, n_all - n_t, y_t, y_c


def qini_curve(
    y: FloatArray, score: FloatArray, treated: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """Points ``(k, Y_t(k) - Y_c(k) N_t(k) / N_c(k))`` of the Qini curve, from (0, 0)."""
    n_all, n_t, n_c, y_t, y_c = _cumulative(y, score, treated)
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, y_t - y_c * ratio]


def uplift_curve(
    y: FloatArray, score: FloatArray, treated: BoolArray
) -> tuple[FloatArray, FloatArray]:
    """Points ``(k, (Y_t/N_t - Y_c/N_c) k)`` of the uplift curve, from (0, 0)."""
    n_all, n_t, n_c, y_t, y_c = _cumulative(y, score, treated)
    mean_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
    mean_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
    return np.r_[0.0, n_all], np.r_[0.0, (mean_t - mean_c) * n_all]


def _area_over_random(k: FloatArray, values: FloatArray) -> float:
    area = float(np.sum((k[1:] - k[:-1]) * (values[1:] + values[:-1]) / 2.0))
    random = float(k[-1] * values[-1]) / 2.0
    return (area - random) / float(k[-1]) ** 2


def uplift_at_k(y: FloatArray, score: FloatArray, treated: BoolArray, k: float) -> float:
    """Treated minus control mean outcome among the ``ceil(k n)`` highest-scored units."""
    if not 0.0 < k < 1.0:
        raise MeasureError(f"k must be a share between 0 and 1, got {k!r}")
    top = np.argsort(score, kind="mergesort")[::-1][: math.ceil(k * y.size)]
    t = treated[top]
    if t.all() or not t.any():
        return math.nan
    return float(y[top][t].mean() - y[top][~t].mean())


@dataclass(frozen=True, slots=True)
class UpliftModelReport:
    """Held-out metrics of one uplift model (``curve``: Qini at 0, 1, ..., 100 %)."""

    method: str
    n_train: int
    n_test: int
    qini_coefficient: float
    auuc: float
    uplift_at: dict[str, float]
    average_effect: float
    curve: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN becomes None)."""

        def clean(v: float) -> float | None:
            return None if math.isnan(v) else v

        return {
            "method": self.method,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "qini_coefficient": self.qini_coefficient,
            "auuc": self.auuc,
            "uplift_at": {k: clean(v) for k, v in self.uplift_at.items()},
            "average_effect": self.average_effect,
            "qini_curve": self.curve,
        }


def evaluate_uplift(
    y: FloatArray, score: FloatArray, treated: BoolArray, method: str = "", n_train: int = 0
) -> UpliftModelReport:
    """Qini coefficient, AUUC and uplift@{10, 20, 30, 50}% of ``score`` on held-out rows."""
    k, qini = qini_curve(y, score, treated)
    ku, upl = uplift_curve(y, score, treated)
    grid = np.linspace(0.0, 1.0, 101) * k[-1]
    return UpliftModelReport(
        method=method,
        n_train=n_train,
        n_test=int(y.size),
        qini_coefficient=_area_over_random(k, qini),
        auuc=_area_over_random(ku, upl),
        uplift_at={f"{p}%": uplift_at_k(y, score, treated, p / 100) for p in (10, 20, 30, 50)},
        average_effect=float(y[treated].mean() - y[~treated].mean()),
        curve=np.interp(grid, k, qini).round(6).tolist(),
    )


def _design(codes: Codes) -> FloatArray:
    """A numeric feature as is; a text feature one-hot encoded."""
    try:
        values = np.asarray(codes.names, dtype=np.float64)
    except ValueError:
        return np.eye(len(codes.names))[codes.codes]
    return values[codes.codes][:, None]


def uplift_model_csv(
    path: Path,
    treatment: str,
    outcome: str,
    features: Sequence[str],
    *,
    control: str,
    arm: str | None = None,
    methods: Sequence[str] = METHODS,
    test_share: float = 0.3,
    seed: int = 0,
) -> list[UpliftModelReport]:
    """Fit each method on a random split of a CSV and report its held-out metrics."""
    if not features:
        raise MeasureError("an uplift model needs at least one feature column (--feature)")
    if not 0.05 <= test_share <= 0.95:
        raise MeasureError(f"test share must be between 0.05 and 0.95, got {test_share!r}")
    cols = read_columns(path, numbers=[outcome], text=[treatment, *features], what="data")
    arms = cols.text[treatment]
    if control not in arms.names:
        raise MeasureError(f"control {control!r} is not an arm ({', '.join(arms.names)})")
    others = [a for a in arms.names if a != control]
    if arm is None and len(others) != 1:
        raise MeasureError(f"several treated arms ({', '.join(others)}); pick one with --arm")
    chosen = arm if arm is not None else others[0]
    if chosen not in others:
        raise MeasureError(f"arm {chosen!r} is not a treated arm ({', '.join(others)})")
    names = np.asarray(arms.names)[arms.codes]
    keep = (names == control) | (names == chosen)
    x = np.hstack([_design(cols.text[f]) for f in features])[keep]
    treated, y = (names == chosen)[keep], cols.numbers[outcome][keep]
    test = np.random.default_rng(seed).random(y.size) < test_share
    reports = []
    for method in methods:
        model = fit_uplift_model(x[~test], treated[~test], y[~test], method, seed=seed)
        score = model.predict(x[test])
        reports.append(evaluate_uplift(y[test], score, treated[test], method, int((~test).sum())))
    return reports
