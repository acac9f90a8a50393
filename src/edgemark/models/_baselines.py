"""Baselines every model is compared with: an RFM quintile rule and a logistic regression.

A model that does not beat them fails its quality gate. scikit-learn is the ``train`` extra.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import ModelError

FloatArray = npt.NDArray[np.float64]

_PATTERNS = {
    "recency": re.compile(r"recency"),
    "frequency": re.compile(r"purchase|frequency|orders|count"),
    "monetary": re.compile(r"spend|monetary|amount|revenue|value"),
}


def asinh(x: npt.ArrayLike) -> FloatArray:
    """``asinh(x)``, about ``sign(x) log 2|x|``: tames heavy tails of counts and sums."""
    return np.asarray(np.arcsinh(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def rfm_columns(feature_names: Sequence[str]) -> tuple[int, int, int] | None:
    """Indices of (recency, frequency, monetary) columns found by name, or None.

    The first name matching each role wins; a recency column is never the frequency one.

    >>> rfm_columns(["recency_purchase_days", "purchases_30d", "spend_30d"])
    (0, 1, 2)
    """
    found: dict[str, int] = {}
    for role, pattern in _PATTERNS.items():
        for i, name in enumerate(feature_names):
            if i in found.values() or (role != "recency" and "recency" in name):
                continue
            if pattern.search(name):
                found[role] = i
                break
    if len(found) < 3:
        return None
    return found["recency"], found["frequency"], found["monetary"]


class RfmRule:
    """Quintile scores R, F, M (1-5 each, recent/frequent/big = 5) summed to 3-15.

    ``predict`` returns the training positive rate of a row's summed score (smoothed towards
    the overall rate), so it is a probability a report can score like any model.
    """

    def __init__(self, columns: tuple[int, int, int]) -> None:
        self.columns = columns

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike) -> RfmRule:
        """Learn quintile edges and the positive rate of each summed score."""
        rows = np.asarray(x, dtype=np.float64)
        labels = np.asarray(y, dtype=np.float64)
        self.edges_ = [np.quantile(rows[:, c], [0.2, 0.4, 0.6, 0.8]) for c in self.columns]
        scores = self.score(rows)
        self.base_rate_ = float(labels.mean())
        self.rates_ = {
            int(s): float((labels[scores == s].sum() + self.base_rate_) / ((scores == s).sum() + 1))
            for s in np.unique(scores)
        }
        return self

    def score(self, x: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """The summed RFM score (3-15) of each row."""
        rows = np.asarray(x, dtype=np.float64)
        total = np.zeros(rows.shape[0], dtype=np.int64)
        for k, (col, edges) in enumerate(zip(self.columns, self.edges_, strict=True)):
            q = np.searchsorted(edges, rows[:, col], side="right") + 1  # 1..5, big = 5
            total += (6 - q) if k == 0 else q  # recency: fewer days since = better
        return total

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        """P(y=1) looked up by summed score."""
        scores = self.score(x)
        return np.array([self.rates_.get(int(s), self.base_rate_) for s in scores])


class LogisticBaseline:
    """Standardised logistic regression on ``asinh`` features (scikit-learn)."""

    def __init__(self, c: float = 1.0) -> None:
        self.c = c

    def fit(self, x: npt.ArrayLike, y: npt.ArrayLike) -> LogisticBaseline:
        """Fit on rows ``x`` and 0/1 labels ``y`` (multiclass labels give a multinomial fit)."""
        pipeline = require("sklearn.pipeline", "train")
        preprocessing = require("sklearn.preprocessing", "train")
        linear = require("sklearn.linear_model", "train")
        self.model_ = pipeline.make_pipeline(
            preprocessing.StandardScaler(), linear.LogisticRegression(C=self.c, max_iter=2000)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the report judges the fit
            self.model_.fit(asinh(x), np.asarray(y))
        return self

    def predict_proba(self, x: npt.ArrayLike) -> FloatArray:
        """Class probabilities, one column per class (sorted labels)."""
        return np.asarray(self.model_.predict_proba(asinh(x)), dtype=np.float64)

    def predict(self, x: npt.ArrayLike) -> FloatArray:
        """P(y=1) for binary fits."""
        return self.predict_proba(x)[:, 1]


def binary_baselines(
    x_train: npt.ArrayLike, y_train: npt.ArrayLike, x_test: npt.ArrayLike, names: Sequence[str]
) -> tuple[dict[str, FloatArray], dict[str, Any]]:
    """Test-period P(y=1) of each baseline, and notes on baselines that could not be built."""
    preds: dict[str, FloatArray] = {
        "logistic_regression": LogisticBaseline().fit(x_train, y_train).predict(x_test)
    }
    notes: dict[str, Any] = {}
    cols = rfm_columns(names)
    if cols is None:
        notes["rfm_rule"] = "skipped: no recency, frequency and monetary columns among features"
    else:
        preds["rfm_rule"] = RfmRule(cols).fit(x_train, y_train).predict(x_test)
        notes["rfm_rule"] = "columns " + ", ".join(names[c] for c in cols)
    if not preds:
        raise ModelError("No baseline could be built.")
    return preds, notes
