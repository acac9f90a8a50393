from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from edgemark.errors import ModelError
from edgemark.models import train_propensity

MakeFrame = Callable[..., tuple[pd.DataFrame, np.ndarray]]


def test_auc_is_well_above_chance_and_close_to_bayes(trained: dict[str, Any]) -> None:
    frame, p_true, model = trained["frame"], trained["p_true"], trained["model"]
    test = (frame["label_time"] >= model.metrics_["split_time"]).to_numpy()
    bayes_auc = roc_auc_score(frame["label"][test], p_true[test])

    auc = model.metrics_["auc_test"]

    assert auc > 0.65
    assert bayes_auc - 0.03 < auc <= bayes_auc + 0.01


def test_metrics_follow_the_time_split(trained: dict[str, Any]) -> None:
    frame, metrics = trained["frame"], trained["model"].metrics_
    split = float(np.quantile(frame["label_time"], 0.75))
    test = frame["label_time"] >= split

    assert metrics["split_time"] == split
    assert metrics["n_train"] == int((~test).sum()) and metrics["n_test"] == int(test.sum())
    assert metrics["positive_rate_test"] == pytest.approx(frame["label"][test].mean())
    assert set(metrics) == {
        "auc_test",
        "auc_train",
        "n_train",
        "n_test",
        "positive_rate_test",
        "split_time",
    }
    assert metrics["auc_train"] >= metrics["auc_test"] - 0.05


def test_same_seed_same_predictions_and_input_not_mutated(
    features: tuple[str, ...], make_frame: MakeFrame
) -> None:
    frame, _ = make_frame(n=3000, seed=5)
    before = frame.copy()
    x = frame[list(features)].to_numpy(np.float32)

    a = train_propensity(frame, features, seed=11).predict(x)
    b = train_propensity(frame, features, seed=11).predict(x)

    np.testing.assert_array_equal(a, b)
    assert frame.equals(before)


def test_explicit_split_time_and_params_are_used(
    features: tuple[str, ...], make_frame: MakeFrame
) -> None:
    frame, _ = make_frame(n=3000, seed=6)
    split = float(np.sort(frame["label_time"].unique())[4])

    model = train_propensity(frame, features, split_time=split, params={"num_iterations": 7})

    assert model.metrics_["split_time"] == split
    assert model.booster_.num_trees() == 7
    assert model.metrics_["n_test"] == int((frame["label_time"] >= split).sum())


def test_missing_columns_are_named(features: tuple[str, ...], make_frame: MakeFrame) -> None:
    frame, _ = make_frame(n=200)
    with pytest.raises(ModelError, match=r"lacks column.*label, views_7d"):
        train_propensity(frame.drop(columns=["label", "views_7d"]), features)


def test_no_positives_in_test_or_train_is_clear_error(
    features: tuple[str, ...], make_frame: MakeFrame
) -> None:
    frame, _ = make_frame(n=2000)
    split = float(np.quantile(frame["label_time"], 0.75))
    no_pos_test = frame.copy()
    no_pos_test.loc[no_pos_test["label_time"] >= split, "label"] = 0
    with pytest.raises(ModelError, match=r"test rows .* have no positive labels"):
        train_propensity(no_pos_test, features)
    no_pos_train = frame.copy()
    no_pos_train.loc[no_pos_train["label_time"] < split, "label"] = 0
    with pytest.raises(ModelError, match=r"train rows .* have no positive labels"):
        train_propensity(no_pos_train, features)


def test_bad_split_bad_labels_and_empty_frame(
    features: tuple[str, ...], make_frame: MakeFrame
) -> None:
    frame, _ = make_frame(n=500)
    with pytest.raises(ModelError, match="No test rows"):
        train_propensity(frame, features, split_time=frame["label_time"].max() + 1)
    with pytest.raises(ModelError, match="only 0 and 1"):
        train_propensity(frame.assign(label=frame["label"] * 2), features)
    with pytest.raises(ModelError, match="empty"):
        train_propensity(frame.iloc[:0], features)
    with pytest.raises(ModelError, match="pandas DataFrame"):
        train_propensity(frame.to_numpy(), features)


def test_predict_wrong_width_is_model_error(trained: dict[str, Any]) -> None:
    with pytest.raises(ModelError, match="Expected rows of 5 features"):
        trained["model"].predict(np.ones((2, 3)))
