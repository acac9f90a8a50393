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


def test_train_propensity_bundle_then_inspect_and_verify(
    tmp_path: Path, make_frame: MakeFrame
) -> None:
    from edgemark.cli import _bundle, _keys

    app = _app()
    _keys.register(app)
    _bundle.register(app)
    runner = CliRunner()
    frame, _ = make_frame(n=3000, seed=9)
    frame.to_parquet(tmp_path / "frame.parquet")
    keys = tmp_path / "keys"
    runner.invoke(app, ["keys", "generate", "--dir", str(keys), "--key-id", "hub"])

    trained = runner.invoke(
        app,
        ["train", "propensity", "--frame", str(tmp_path / "frame.parquet"),
         "--out", str(tmp_path / "m"), "--bundle-out", str(tmp_path / "b"),
         "--key", str(keys / "hub.key"), "--version", "7", "--json"],
    )  # fmt: skip
    shown = runner.invoke(app, ["bundle", "inspect", str(tmp_path / "b")])
    verified = runner.invoke(
        app, ["bundle", "verify", str(tmp_path / "b"), "--trust", str(keys), "--json"]
    )

    assert trained.exit_code == 0, trained.output
    printed = json.loads(trained.output)
    assert printed["gate"]["passed"] and printed["bundle"] == str(tmp_path / "b")
    assert set(printed["baselines"]) == {"logistic_regression", "rfm_rule"}
    assert shown.exit_code == 0
    assert "Model card: propensity" in shown.output and "auc_test" in shown.output
    assert "onnxruntime >= 1.18.0" in shown.output
    body = json.loads(verified.output)
    assert verified.exit_code == 0 and body["verified"] is True
    assert [c["check"] for c in body["checks"]] == [
        "manifest", "key", "signature", "files", "runtime", "selftest"
    ]  # fmt: skip


def test_gate_failure_with_bundle_out_exits_5_and_builds_nothing(
    tmp_path: Path, make_frame: MakeFrame
) -> None:
    from edgemark.bundle import generate_keypair

    frame, _ = make_frame(n=2000, seed=2)
    frame["label"] = np.random.default_rng(1).permutation(frame["label"].to_numpy())
    frame.to_parquet(tmp_path / "f.parquet")
    key, _ = generate_keypair(tmp_path / "keys", "hub")

    result = CliRunner().invoke(
        _app(),
        ["train", "churn", "--frame", str(tmp_path / "f.parquet"), "--out", str(tmp_path / "m"),
         "--bundle-out", str(tmp_path / "b"), "--key", str(key)],
    )  # fmt: skip

    assert result.exit_code == 5
    assert "failed its quality gate" in result.output and "does not beat baseline" in result.output
    assert not (tmp_path / "b").exists() and (tmp_path / "m" / "card.md").is_file()
