"""Next-category model: which category a customer buys next, multiclass over the top ones.

Labels come from the event log (the category of the first purchase within the horizon
after each label time); features from the point-in-time frame. Evaluated with NDCG@5 and
hit rate@5 on a time split, next to a popularity and a logistic-regression baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import ModelError
from edgemark.models._baselines import LogisticBaseline
from edgemark.models._metrics import hit_rate_at_k, ndcg_at_k
from edgemark.models._propensity import DEFAULT_PARAMS

OTHER = "other"
DAY = 86400.0


def next_category_labels(events: Any, frame: Any, horizon_days: float) -> Any:
    """Category of each frame row's first purchase in ``(label_time, label_time + horizon]``.

    ``events`` is a pandas DataFrame with ``user``, ``type``, ``ts`` (epoch seconds) and
    ``category``; returns a Series aligned with ``frame`` (None where no purchase follows).
    """
    pd = require("pandas", "train")
    missing = [c for c in ("user", "type", "ts", "category") if c not in events.columns]
    if missing:
        raise ModelError(f"Events lack column(s) {', '.join(missing)} for next-category labels.")
    buys = events[events["type"] == "purchase"][["user", "ts", "category"]].copy()
    buys["ts"] = buys["ts"].astype(np.float64)
    buys["user"] = buys["user"].astype(str)
    rows = pd.DataFrame(
        {"i": np.arange(len(frame)), "user": frame["user"].astype(str).to_numpy(),
         "ts": frame["label_time"].to_numpy(np.float64)}
    ).sort_values("ts", kind="stable")  # fmt: skip
    merged = pd.merge_asof(
        rows,
        buys.sort_values("ts", kind="stable").rename(columns={"ts": "buy_ts"}),
        left_on="ts",
        right_on="buy_ts",
        by="user",
        direction="forward",
        allow_exact_matches=False,
    )
    late = merged["buy_ts"].isna() | (merged["buy_ts"] > merged["ts"] + horizon_days * DAY)
    out = merged.sort_values("i")["category"].astype(object).reset_index(drop=True)
    late = late.loc[merged.sort_values("i").index].to_numpy()
    return out.where(~late & out.notna().to_numpy(), None)


class NextCategoryModel:
    """LightGBM multiclass over ``classes_`` (top categories, then ``"other"``)."""

    def __init__(self, booster: Any, classes: Sequence[str], feature_names: Sequence[str]):
        self.booster_ = booster
        self.classes_ = tuple(classes)
        self.feature_names = tuple(feature_names)
        self.metrics_: dict[str, Any] = {}

    def predict_proba(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Class probabilities, one column per entry of ``classes_``."""
        rows = np.asarray(x, dtype=np.float32)
        return np.asarray(self.booster_.predict(rows), dtype=np.float64).reshape(len(rows), -1)

    def __repr__(self) -> str:
        return f"NextCategoryModel(classes={len(self.classes_)}, metrics={self.metrics_})"


def train_next_category(
    frame: Any,
    feature_names: Sequence[str],
    labels: Any,
    *,
    top_k: int = 10,
    split_time: float | None = None,
    horizon_days: float = 7.0,
    seed: int = 0,
    params: Mapping[str, Any] | None = None,
) -> NextCategoryModel:
    """Train on rows whose label is a category; metrics on the later period.

    Categories outside the ``top_k`` most frequent in training become ``"other"``. Training
    rows end ``horizon_days`` before ``split_time`` (default: 75% quantile of label_time).
    Metrics: ``ndcg_at_5``, ``hit_rate_at_5`` for the model and both baselines.
    """
    lgb = require("lightgbm", "train")
    names = list(feature_names)
    known = np.asarray([lab is not None and lab == lab for lab in labels], dtype=bool)
    if known.sum() < 20:
        raise ModelError("Fewer than 20 rows with a next purchase: nothing to learn from.")
    rows = frame.loc[known].reset_index(drop=True)
    cats = np.asarray([str(c) for c in np.asarray(labels, dtype=object)[known]], dtype=object)
    times = rows["label_time"].to_numpy(np.float64)
    split = float(np.quantile(times, 0.75)) if split_time is None else float(split_time)
    train, test = times < split - horizon_days * DAY, times >= split
    if train.sum() == 0 or test.sum() == 0:
        raise ModelError(f"No train or no test rows around split_time={split}; use more history.")
    classes = _top_classes(cats[train], top_k)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index.get(c, index.get(OTHER, 0)) for c in cats], dtype=np.int64)
    x = rows[names].to_numpy(np.float32)
    full = {**DEFAULT_PARAMS, "objective": "multiclass", "num_class": len(classes), "seed": seed}
    full.update(params or {})
    booster = lgb.train(full, lgb.Dataset(x[train], label=y[train], feature_name=names))
    model = NextCategoryModel(booster, classes, names)
    model.metrics_ = _metrics(model, x, y, train, test, len(classes), split)
    return model


def _top_classes(cats: npt.NDArray[Any], top_k: int) -> list[str]:
    values, counts = np.unique(cats, return_counts=True)
    order = sorted(zip(-counts, values, strict=True))[:top_k]
    top = [str(v) for _, v in order]
    return [*top, OTHER] if len(values) > len(top) else top


def _metrics(
    model: NextCategoryModel,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    train: npt.NDArray[np.bool_],
    test: npt.NDArray[np.bool_],
    k: int,
    split: float,
) -> dict[str, Any]:
    popularity = np.bincount(y[train], minlength=k).astype(np.float64)
    scores = {
        "model": model.predict_proba(x[test]),
        "popularity": np.tile(popularity / popularity.sum(), (int(test.sum()), 1)),
    }
    if len(np.unique(y[train])) > 1:
        lr = LogisticBaseline().fit(x[train], y[train])
        proba = np.zeros((int(test.sum()), k))
        proba[:, lr.model_.classes_] = lr.predict_proba(x[test])
        scores["logistic_regression"] = proba
    out: dict[str, Any] = {}
    for name, s in scores.items():
        prefix = "" if name == "model" else f"baseline_{name}_"
        out[f"{prefix}ndcg_at_5"] = ndcg_at_k(s, y[test], 5)
        out[f"{prefix}hit_rate_at_5"] = hit_rate_at_k(s, y[test], 5)
    out.update(
        classes=len(model.classes_),
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        split_time=split,
    )
    return out
