"""Propensity and churn training: LightGBM on a point-in-time training frame, time-split eval.

LightGBM, pandas and scikit-learn are the ``train`` extra, imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import ModelError

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "num_iterations": 100,
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_child_samples": 20,
    "deterministic": True,
    "force_row_wise": True,
    "num_threads": 1,
    "verbose": -1,
}
"""LightGBM parameters; ``train_propensity(params=...)`` overrides single keys."""


class PropensityModel:
    """A trained binary LightGBM model: ``booster_`` scores P(y=1).

    ``kind`` says what y is: ``"propensity"`` (a purchase within the horizon) or ``"churn"``
    (no purchase within it). Made by ``train_propensity`` / ``train_churn``; learned state
    lives in the attributes ending in ``_``.
    """

    def __init__(
        self,
        booster: Any,
        feature_names: Sequence[str],
        metrics: Mapping[str, Any],
        kind: str = "propensity",
    ) -> None:
        self.booster_ = booster
        self.feature_names = tuple(feature_names)
        self.metrics_ = dict(metrics)
        self.kind = kind

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return len(self.feature_names)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """P(y=1) for each row of ``x`` (columns in ``feature_names`` order)."""
        rows = np.asarray(x, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ModelError(
                f"Expected rows of {self.n_features} features, got shape {rows.shape}."
            )
        return np.asarray(self.booster_.predict(rows), dtype=np.float64)

    def __repr__(self) -> str:
        auc = self.metrics_.get("auc_test")
        return f"PropensityModel(kind={self.kind!r}, n_features={self.n_features}, auc_test={auc})"


def train_propensity(
    frame: Any,
    feature_names: Sequence[str],
    *,
    split_time: float | None = None,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    embargo_days: float = 0.0,
) -> PropensityModel:
    """Train LightGBM on rows with ``label_time < split_time``, evaluate on the rest.

    ``frame`` is a pandas DataFrame with ``label_time``, ``label`` (0/1) and the feature
    columns. ``split_time`` defaults to the 75% quantile of ``label_time``. With
    ``embargo_days`` (set it to the label horizon) training keeps only rows with
    ``label_time < split_time - embargo``, so no training label looks into the test period.
    Metrics: ``auc_test``, ``auc_train``, ``n_train``, ``n_test``, ``positive_rate_test``,
    ``split_time``.
    """
    return _train_binary(frame, feature_names, "propensity", split_time, seed, params, embargo_days)


def train_churn(
    frame: Any,
    feature_names: Sequence[str],
    *,
    split_time: float | None = None,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
    embargo_days: float = 0.0,
) -> PropensityModel:
    """Train a churn model: y = 1 iff NO purchase within the frame's label horizon.

    Same frame, split and metrics as ``train_propensity`` (whose ``label`` is flipped).
    """
    if getattr(frame, "columns", None) is not None and "label" in frame.columns:
        frame = frame.assign(label=1 - frame["label"])
    return _train_binary(frame, feature_names, "churn", split_time, seed, params, embargo_days)


def _train_binary(
    frame: Any,
    feature_names: Sequence[str],
    kind: str,
    split_time: float | None,
    seed: int,
    params: Mapping[str, Any] | None,
    embargo_days: float,
) -> PropensityModel:
    lgb = require("lightgbm", "train")
    metrics_mod = require("sklearn.metrics", "train")
    names = _check_frame(frame, feature_names)
    times = frame["label_time"].to_numpy(dtype=np.float64)
    labels = frame["label"].to_numpy()
    if not np.isin(labels, (0, 1)).all():
        raise ModelError("Column 'label' must hold only 0 and 1.")
    y = labels.astype(np.int64)
    x = frame[list(names)].to_numpy(dtype=np.float32)  # float32: what the ONNX model sees
    split = float(np.quantile(times, 0.75)) if split_time is None else float(split_time)
    if not 0.0 <= embargo_days < float("inf"):
        raise ModelError(f"embargo_days must be a non-negative number, got {embargo_days!r}.")
    train, test = times < split - 86400.0 * embargo_days, times >= split
    _check_split(y, train, test, split)
    full = {**DEFAULT_PARAMS, **dict(params or {}), "seed": seed}
    data = lgb.Dataset(x[train], label=y[train], feature_name=list(names), free_raw_data=True)
    booster = lgb.train(full, data)
    model = PropensityModel(booster, names, {}, kind=kind)
    p_train, p_test = model.predict(x[train]), model.predict(x[test])
    model.metrics_ = {
        "auc_test": float(metrics_mod.roc_auc_score(y[test], p_test)),
        "auc_train": float(metrics_mod.roc_auc_score(y[train], p_train)),
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "positive_rate_test": float(y[test].mean()),
        "split_time": split,
    }
    return model


def _check_frame(frame: Any, feature_names: Sequence[str]) -> tuple[str, ...]:
    columns = getattr(frame, "columns", None)
    if columns is None:
        raise ModelError(f"Expected a pandas DataFrame, got {type(frame).__name__}.")
    names = tuple(feature_names)
    if not names:
        raise ModelError("No feature columns given; pass the feature spec's names.")
    if len(set(names)) != len(names):
        raise ModelError(f"Feature names repeat: {list(names)}.")
    missing = [c for c in ("label_time", "label", *names) if c not in columns]
    if missing:
        raise ModelError(
            f"Training frame lacks column(s) {', '.join(missing)}; build it with "
            "edgemark.features.build_training_frame."
        )
    if len(frame) == 0:
        raise ModelError("Training frame is empty: no (user, label_time) rows to learn from.")
    return names


def _check_split(
    y: npt.NDArray[np.int64],
    train: npt.NDArray[np.bool_],
    test: npt.NDArray[np.bool_],
    split: float,
) -> None:
    for part, mask in (("train", train), ("test", test)):
        side = "before" if part == "train" else "at or after"
        if not mask.any():
            raise ModelError(
                f"No {part} rows: no label_time {side} split_time={split}. "
                "Choose a split_time inside the frame's label times."
            )
        positives = int(y[mask].sum())
        if positives == 0 or positives == int(mask.sum()):
            what = "no positive" if positives == 0 else "only positive"
            raise ModelError(
                f"The {part} rows ({side} split_time={split}) have {what} labels, so "
                "the model cannot be trained or evaluated. Use more days of history or a "
                "longer label horizon."
            )
