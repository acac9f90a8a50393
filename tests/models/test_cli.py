from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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


def test_train_clv_prints_parameters_near_the_simulated_truth(tmp_path: Path) -> None:
    # Daily BG/NBD world: r=0.5, alpha=10 days, a=0.8, b=2.5; spend Gamma-Gamma p=6, q=4, v=60.
    rng = np.random.default_rng(8)
    rows = []
    for c in range(2500):
        lam, p_drop = rng.gamma(0.5, 1 / 10.0), rng.beta(0.8, 2.5)
        nu = rng.gamma(4.0, 1 / 60.0)
        start, t = int(rng.integers(0, 150)), 0.0
        day = pd.Timestamp("2025-01-01") + pd.Timedelta(days=start)
        rows.append((f"c{c}", day, rng.gamma(6.0, 1 / nu)))
        while True:
            t += rng.exponential(1 / lam)
            if start + t > 364:
                break
            rows.append((f"c{c}", day + pd.Timedelta(days=float(t)), rng.gamma(6.0, 1 / nu)))
            if rng.random() < p_drop:
                break
    tx = pd.DataFrame(rows, columns=["customer_id", "bought_at", "total"])
    tx.to_csv(tmp_path / "tx.csv", index=False)

    result = CliRunner().invoke(
        _app(),
        ["train", "clv", "--transactions", str(tmp_path / "tx.csv"), "--customer", "customer_id",
         "--date", "bought_at", "--amount", "total", "--observation-end", "2025-12-31",
         "--out", str(tmp_path / "clv.csv"), "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    fit = json.loads(result.output)
    assert fit["bgnbd"]["r"] == pytest.approx(0.5, rel=0.3)
    assert fit["bgnbd"]["alpha"] == pytest.approx(10.0, rel=0.35)
    assert fit["gamma_gamma"]["p"] == pytest.approx(6.0, rel=0.25)
    table = pd.read_csv(tmp_path / "clv.csv")
    assert len(table) == 2500 == fit["customers"]
    assert {"expected_purchases", "expected_spend", "expected_value"} <= set(table.columns)
    assert (table["expected_value"] >= 0).all()


def test_train_next_category_on_a_simulated_log(tmp_path: Path) -> None:
    from edgemark.events import EventLog, Pseudonymizer, ingest_file
    from edgemark.sim import SimConfig, generate

    gen = generate(SimConfig(customers=400, days=42, seed=3), tmp_path / "sim")
    log = EventLog(tmp_path / "log")
    ingest_file(gen.events_path, log, Pseudonymizer.create_key_file(tmp_path / "k"), tmp_path / "q")

    result = CliRunner().invoke(
        _app(),
        ["train", "next-category", "--log", str(tmp_path / "log"), "--out", str(tmp_path / "nc"),
         "--every-days", "3", "--top-k", "4", "--json"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["classes"] == len(figures["categories"]) and figures["n_test"] > 0
    assert 0 < figures["baseline_popularity_hit_rate_at_5"] <= 1
    assert 0 < figures["ndcg_at_5"] <= 1
    assert (tmp_path / "nc" / "model.onnx").is_file()


def test_train_stamps_the_spec_hash_the_frame_records(
    tmp_path: Path, make_frame: MakeFrame
) -> None:
    """A frame from 'features frame' records its spec (e.g. one in a time zone, whose names
    equal the library's); the model card carries that hash, not a guess from the names."""
    frame, _ = make_frame(n=3000, seed=9)
    frame.attrs["feature_spec_hash"] = "ab" * 32
    frame.to_parquet(tmp_path / "frame.parquet")
    out = tmp_path / "model"

    result = CliRunner().invoke(
        _app(),
        ["train", "propensity", "--frame", str(tmp_path / "frame.parquet"), "--out", str(out)],
    )

    assert result.exit_code == 0, result.output
    assert json.loads((out / "card.json").read_text())["feature_spec_hash"] == "ab" * 32
