from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from typer.testing import CliRunner

from edgemark.cli import _train
from edgemark.models import OnnxScorer

MakeFrame = Callable[..., tuple[pd.DataFrame, np.ndarray]]


def _app() -> typer.Typer:
    app = typer.Typer()
    _train.register(app)
    app.command("noop", help="Keeps 'train' a sub-command group.")(lambda: None)
    return app


def test_train_propensity_writes_model_and_metrics(
    tmp_path: Path, make_frame: MakeFrame, features: tuple[str, ...]
) -> None:
    frame, _ = make_frame(n=3000, seed=9)
    frame.to_parquet(tmp_path / "frame.parquet")
    out = tmp_path / "model"

    result = CliRunner().invoke(
        _app(),
        ["train", "propensity", "--frame", str(tmp_path / "frame.parquet"), "--out", str(out),
         "--seed", "4", "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["feature_names"] == list(features)
    assert json.loads((out / "metrics.json").read_text()) == printed["metrics"]
    assert printed["metrics"]["auc_test"] > 0.65
    x = frame[list(features)].to_numpy(np.float32)
    assert OnnxScorer(out / "model.onnx").score(x).shape == (len(frame),)


def test_train_propensity_reports_missing_label_with_exit_code(
    tmp_path: Path, make_frame: MakeFrame
) -> None:
    frame, _ = make_frame(n=300)
    frame.drop(columns=["label"]).to_parquet(tmp_path / "f.parquet")

    result = CliRunner().invoke(
        _app(),
        ["train", "propensity", "--frame", str(tmp_path / "f.parquet"), "--out", str(tmp_path)],
    )

    assert result.exit_code == 5
    assert "lacks column(s) label" in result.output
