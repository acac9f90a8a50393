from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sklearn.metrics import roc_auc_score

from edgemark.bundle import TrustStore, pack_bundle, read_manifest, verify_bundle
from edgemark.errors import BundleError, QualityGateError
from edgemark.models import (
    FactoryConfig,
    OnnxScorer,
    bundle_model,
    distill_student,
    export_student_onnx,
    make_selftest,
    run_selftest,
    train_churn,
    train_model,
    train_propensity,
)

MakeFrame = Callable[..., tuple[pd.DataFrame, np.ndarray]]
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def _bundle(result: Any, out: Path) -> Path:
    return bundle_model(
        result,
        out,
        version="2026.11.1",
        offers=[{"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 1.0}],
        policy={"experiment": "e", "salt": "s", "holdout_share": 0.1},
        signing_key=KEY,
        key_id="k1",
    )


def test_bundled_student_is_within_the_auc_gate_and_much_smaller(factory: Any) -> None:
    comp = factory.compression
    auc, size = comp["auc"], comp["bytes"]

    assert comp["chosen"] in ("student_fp32", "student_int8")
    assert auc[comp["chosen"]] >= auc["teacher"] - 0.005
    assert size["teacher"] >= 4 * size[comp["chosen"]]
    assert factory.passed and factory.gate["reasons"] == []
    assert (factory.out_dir / "model.onnx").read_bytes() == (
        factory.out_dir / comp["files"][comp["chosen"]]
    ).read_bytes()


def test_report_scores_models_and_both_baselines_on_the_test_period(
    factory: Any, make_frame: MakeFrame, features: tuple[str, ...]
) -> None:
    frame, p_true = make_frame(n=8000, seed=1)
    test = (frame["label_time"] >= factory.metrics["split_time"]).to_numpy()
    y = frame["label"].to_numpy()[test]
    x = frame[list(features)].to_numpy(np.float32)[test]
    ev = factory.evaluation

    teacher_auc = roc_auc_score(y, OnnxScorer(factory.out_dir / "teacher.onnx").score(x))

    assert set(ev["baselines"]) == {"logistic_regression", "rfm_rule"}
    assert ev["models"]["teacher"]["auc"]["value"] == pytest.approx(teacher_auc, abs=1e-12)
    assert ev["models"]["teacher"]["n"] == int(test.sum())
    # The labels follow a logistic model, so the logistic baseline is near the Bayes AUC.
    bayes = roc_auc_score(y, p_true[test])
    assert bayes - 0.02 < ev["baselines"]["logistic_regression"]["auc"]["value"] <= bayes + 0.01
    assert ev["baselines"]["rfm_rule"]["auc"]["value"] < bayes - 0.02
    best = ev["best_baseline"]
    assert best == "logistic_regression"
    assert ev["vs_best_baseline"]["teacher"]["baseline"] == best
    for group in ("models", "baselines"):
        for report in ev[group].values():
            for m in ("auc", "log_loss", "brier", "ece"):
                assert report[m]["low"] <= report[m]["value"] <= report[m]["high"]


def test_training_rows_stop_one_horizon_before_the_split(factory: Any) -> None:
    window = factory.card["training_window"]
    split = factory.metrics["split_time"]

    train_to = pd.Timestamp(window["train_to"]).timestamp()

    assert train_to < split - 7 * 86400 and window["label_horizon_days"] == 7.0
    assert pd.Timestamp(window["test_from"]).timestamp() >= split


def test_student_onnx_scores_like_the_student(
    trained: dict[str, Any], tmp_path: Path, features: tuple[str, ...]
) -> None:
    frame, model = trained["frame"], trained["model"]
    x = frame[list(features)].to_numpy(np.float32)

    student = distill_student(model, x[:3000], seed=1)
    path = export_student_onnx(student, tmp_path / "s.onnx")

    np.testing.assert_allclose(OnnxScorer(path).score(x), student.predict(x), atol=1e-5)
    teacher = model.predict(x)
    assert (
        np.corrcoef(student.predict(x), teacher)[0, 1] > 0.95
    )  # a smooth copy of a jagged teacher


def test_card_carries_use_window_fingerprint_metrics_baselines_and_limits(factory: Any) -> None:
    card = json.loads((factory.out_dir / "card.json").read_text())
    md = (factory.out_dir / "card.md").read_text()

    assert card == factory.card
    assert card["feature_spec_hash"] == "f" * 64
    assert (
        len(card["data_fingerprint"]["sha256"]) == 64 and card["data_fingerprint"]["rows"] == 8000
    )
    assert "Not for pricing" in card["intended_use"] and card["limits"]
    assert set(card["baselines"]) == {"logistic_regression", "rfm_rule"}
    assert card["metrics"][card["bundled_model"]]["auc"]["method"] == "delong"
    assert sum(b["n"] for b in card["calibration_bins"]) == factory.metrics["n_test"]
    assert "| baseline: rfm_rule |" in md and "Quality gate:** passed" in md
    assert (factory.out_dir / "calibration.html").is_file()  # plotly is installed in dev


def test_fingerprint_changes_with_one_value(
    make_frame: MakeFrame, features: tuple[str, ...]
) -> None:
    from edgemark.models import data_fingerprint

    frame, _ = make_frame(n=500, seed=3)
    other = frame.copy()
    other.loc[7, "spend_30d"] += 0.01

    assert data_fingerprint(frame, features) == data_fingerprint(frame.copy(), features)
    assert (
        data_fingerprint(frame, features)["sha256"] != data_fingerprint(other, features)["sha256"]
    )


def test_selftest_round_trip_and_mismatch_message(factory: Any) -> None:
    selftest = json.loads((factory.out_dir / "selftest.json").read_text())
    scorer = OnnxScorer(factory.out_dir / "model.onnx")

    assert len(selftest["inputs"]) == 16 and selftest["tolerance"] == 1e-4
    assert run_selftest(scorer, selftest) <= 1e-7
    assert make_selftest(factory.out_dir / "model.onnx", selftest["inputs"]) == selftest
    bad = {**selftest, "expected": [e + 0.01 for e in selftest["expected"]]}
    with pytest.raises(BundleError, match=r"self-test failed: row \d+ scores"):
        run_selftest(scorer, bad)
    with pytest.raises(BundleError, match=r"self-test failed: selftest\.json is malformed"):
        run_selftest(scorer, {"inputs": []})


def test_bundle_ships_model_card_selftest_and_runtime_and_verifies(
    factory: Any, tmp_path: Path
) -> None:
    bundle = _bundle(factory, tmp_path / "b")

    manifest = verify_bundle(bundle, TrustStore({"k1": KEY.public_key()}))

    assert set(manifest.files) == {"model.onnx", "card.json", "card.md", "selftest.json"}
    assert manifest.extra["runtime"]["onnx_opsets"] == {"ai.onnx": 15}
    assert manifest.extra["runtime"]["min_onnxruntime"] == "1.18.0"
    assert manifest.extra["model_card"] == "card.json"
    assert manifest.metrics["auc_test"] == factory.metrics["auc_test"]
    assert manifest.metrics["bundled_model"] == factory.compression["chosen"]


def test_failed_quality_gate_is_not_bundled(
    tmp_path: Path, make_frame: MakeFrame, features: tuple[str, ...]
) -> None:
    frame, _ = make_frame(n=3000, seed=4)
    shuffled = frame.assign(label=np.random.default_rng(0).permutation(frame["label"].to_numpy()))
    config = FactoryConfig(n_bootstrap=20)

    result = train_model(shuffled, features, tmp_path / "m", feature_spec_hash="", config=config)

    assert not result.passed
    assert any("does not beat baseline" in r for r in result.gate["reasons"])
    with pytest.raises(QualityGateError, match="failed its quality gate") as info:
        _bundle(result, tmp_path / "b")
    assert info.value.reasons == result.gate["reasons"]
    assert not (tmp_path / "b").exists()


def test_same_inputs_build_byte_identical_bundles(
    tmp_path: Path, make_frame: MakeFrame, features: tuple[str, ...]
) -> None:
    frame, _ = make_frame(n=3000, seed=5)
    config = FactoryConfig(seed=1, n_bootstrap=30)
    digests = []
    for run in ("a", "b"):
        result = train_model(frame, features, tmp_path / run, feature_spec_hash="", config=config)
        data = pack_bundle(_bundle(result, tmp_path / f"bundle-{run}"))
        digests.append(hashlib.sha256(data).hexdigest())

    assert digests[0] == digests[1]
    a, b = read_manifest(tmp_path / "bundle-a"), read_manifest(tmp_path / "bundle-b")
    assert a == b and a.files["model.onnx"] == b.files["model.onnx"]


def test_churn_model_mirrors_propensity(make_frame: MakeFrame, features: tuple[str, ...]) -> None:
    frame, _ = make_frame(n=3000, seed=6)
    x = frame[list(features)].to_numpy(np.float32)

    churn = train_churn(frame, features, seed=1)
    prop = train_propensity(frame, features, seed=1)

    # Flipping 0/1 labels negates every gradient, so the boosted trees mirror exactly.
    np.testing.assert_allclose(churn.predict(x), 1 - prop.predict(x), atol=1e-6)
    assert churn.kind == "churn" and churn.metrics_["auc_test"] == pytest.approx(
        prop.metrics_["auc_test"], abs=1e-6
    )


@pytest.mark.parametrize(
    ("auc", "size", "chosen", "why"),
    [
        ({"student_fp32": 0.700, "student_int8": 0.699}, (4000, 3000), "student_fp32", "budget"),
        ({"student_fp32": 0.700, "student_int8": 0.699}, (90000, 30000), "student_int8", ""),
        ({"student_fp32": 0.700, "student_int8": 0.690}, (90000, 30000), "student_fp32", "below"),
        ({"student_fp32": 0.690, "student_int8": 0.699}, (4000, 3000), "teacher", "below"),
    ],
)
def test_compression_choice(
    auc: dict[str, float], size: tuple[int, int], chosen: str, why: str
) -> None:
    from edgemark.models._compress import _choose

    sizes = {"teacher": 100_000, "student_fp32": size[0], "student_int8": size[1]}

    got, reason = _choose({"teacher": 0.7, **auc}, sizes, 0.005, 65536)

    assert got == chosen and why in reason
