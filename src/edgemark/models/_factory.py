"""The model factory: train, evaluate against baselines, compress, gate, card, self-test, bundle.

``train_model`` does the work and writes every artefact into one directory;
``bundle_model`` turns a result that passed its gates into a signed bundle.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.errors import ModelError, QualityGateError
from edgemark.models._baselines import binary_baselines
from edgemark.models._card import (
    CARD_JSON,
    CARD_MD,
    card_json,
    card_markdown,
    data_fingerprint,
    model_card,
    training_window,
)
from edgemark.models._compress import compress
from edgemark.models._evaluate import evaluate_binary, quality_gate, write_calibration_plot
from edgemark.models._onnx import export_onnx, runtime_requirements
from edgemark.models._propensity import PropensityModel, train_churn, train_propensity
from edgemark.models._selftest import SELFTEST_FILE, make_selftest

MODEL_FILE = "model.onnx"
KINDS = ("propensity", "churn")


@dataclass(frozen=True)
class FactoryConfig:
    """How the factory trains, compresses and gates one binary model.

    ``horizon_days`` is the frame's label horizon: training rows end that long before the
    split (an embargo) so no training label sees the test period.
    """

    kind: str = "propensity"
    horizon_days: float = 7.0
    split_time: float | None = None
    seed: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    student_hidden: tuple[int, ...] = (32, 16)
    distill_max_iter: int = 60
    quantize: str = "dynamic"
    float_budget_bytes: int = 65536
    auc_tolerance: float = 0.005
    min_auc_lift: float = 0.0
    n_bootstrap: int = 200
    selftest_rows: int = 16
    intended_use: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ModelError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        if self.quantize not in ("dynamic", "static", "none"):
            raise ModelError(f"quantize must be dynamic, static or none, got {self.quantize!r}.")
        if not 0 < self.horizon_days < float("inf"):
            raise ModelError(f"horizon_days must be positive, got {self.horizon_days!r}.")


@dataclass(frozen=True)
class FactoryResult:
    """What ``train_model`` produced. ``files`` are the bundle's files by bundle name."""

    name: str
    config: FactoryConfig
    out_dir: Path
    model: PropensityModel
    evaluation: dict[str, Any]
    compression: dict[str, Any]
    gate: dict[str, Any]
    card: dict[str, Any]
    metrics: dict[str, Any]
    runtime: dict[str, Any]
    files: dict[str, Path]

    @property
    def passed(self) -> bool:
        """Whether the bundled model passed its quality gate."""
        return bool(self.gate["passed"])


def train_model(
    frame: Any,
    feature_names: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    feature_spec_hash: str,
    config: FactoryConfig | None = None,
    name: str | None = None,
) -> FactoryResult:
    """Train, evaluate, compress and gate one model; write every artefact to ``out_dir``.

    Writes ``teacher.onnx``, ``student_fp32.onnx``, ``student_int8.onnx`` (when quantizing),
    ``model.onnx`` (the one to bundle), ``report.json``, ``metrics.json``, ``card.json``,
    ``card.md``, ``selftest.json`` and the calibration plot. Never raises for a failed gate:
    read ``result.passed`` and ``result.gate["reasons"]``.
    """
    cfg = config or FactoryConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = list(feature_names)
    model = _train(frame, names, cfg)
    split = float(model.metrics_["split_time"])
    times = frame["label_time"].to_numpy(np.float64)
    train = times < split - 86400.0 * cfg.horizon_days
    test = times >= split
    labels = frame["label"].to_numpy(np.int64)
    y = 1 - labels if cfg.kind == "churn" else labels
    x = frame[names].to_numpy(np.float32)
    teacher_path = export_onnx(model, out / "teacher.onnx")
    comp = compress(model, teacher_path, x[train], x[test], y[test], out, cfg)
    baselines, notes = binary_baselines(x[train], y[train], x[test], names)
    evaluation = evaluate_binary(
        y[test], comp.pop("predictions"), baselines, n_boot=cfg.n_bootstrap, seed=cfg.seed
    )
    evaluation["baseline_notes"] = notes
    chosen = comp["chosen"]
    reasons = quality_gate(evaluation, chosen, cfg.min_auc_lift)
    gate = {"passed": not reasons, "reasons": reasons, "min_auc_lift": cfg.min_auc_lift}
    model_path = out / MODEL_FILE
    shutil.copyfile(out / comp["files"][chosen], model_path)
    selftest = make_selftest(model_path, _spread(x[test], cfg.selftest_rows))
    (out / SELFTEST_FILE).write_text(json.dumps(selftest, sort_keys=True) + "\n")
    fingerprint = data_fingerprint(frame, names)
    window = training_window(times[train], times[test], split, cfg.horizon_days)
    title = name or cfg.kind
    card = model_card(
        kind=cfg.kind,
        name=title,
        feature_names=names,
        feature_spec_hash=feature_spec_hash,
        fingerprint=fingerprint,
        window=window,
        evaluation=evaluation,
        compression=comp,
        gate=gate,
        intended_use=cfg.intended_use,
    )
    (out / CARD_JSON).write_bytes(card_json(card))
    (out / CARD_MD).write_text(card_markdown(card))
    write_calibration_plot(evaluation["calibration"], out)
    metrics = _manifest_metrics(model, evaluation, comp, fingerprint)
    report = {"evaluation": evaluation, "compression": comp, "gate": gate, "metrics": metrics}
    (out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    files = {
        MODEL_FILE: model_path,
        CARD_JSON: out / CARD_JSON,
        CARD_MD: out / CARD_MD,
        SELFTEST_FILE: out / SELFTEST_FILE,
    }
    runtime = runtime_requirements(model_path)
    return FactoryResult(
        title, cfg, out, model, evaluation, comp, gate, card, metrics, runtime, files
    )


def _train(frame: Any, names: list[str], cfg: FactoryConfig) -> PropensityModel:
    trainer = train_churn if cfg.kind == "churn" else train_propensity
    return trainer(
        frame,
        names,
        split_time=cfg.split_time,
        seed=cfg.seed,
        params=dict(cfg.params),
        embargo_days=cfg.horizon_days,
    )


def _spread(rows: Any, n: int) -> Any:
    """``n`` rows spread evenly through ``rows`` (all of them when there are fewer)."""
    idx = np.unique(np.linspace(0, len(rows) - 1, num=min(n, len(rows))).astype(np.int64))
    return rows[idx]


def _manifest_metrics(
    model: PropensityModel,
    evaluation: Mapping[str, Any],
    comp: Mapping[str, Any],
    fingerprint: Mapping[str, Any],
) -> dict[str, Any]:
    """The flat figures that go into the manifest (the card holds the full report)."""
    chosen = evaluation["models"][comp["chosen"]]
    out: dict[str, Any] = {
        "auc_test": chosen["auc"]["value"],
        "auc_test_low": chosen["auc"]["low"],
        "auc_test_high": chosen["auc"]["high"],
        "log_loss_test": chosen["log_loss"]["value"],
        "brier_test": chosen["brier"]["value"],
        "ece_test": chosen["ece"]["value"],
        "teacher_auc_test": evaluation["models"]["teacher"]["auc"]["value"],
        "bundled_model": comp["chosen"],
        "n_train": model.metrics_["n_train"],
        "n_test": model.metrics_["n_test"],
        "positive_rate_test": chosen["positive_rate"],
        "split_time": model.metrics_["split_time"],
        "data_sha256": fingerprint["sha256"],
    }
    for name, report in sorted(evaluation["baselines"].items()):
        out[f"baseline_auc_{name}"] = report["auc"]["value"]
    return out


def bundle_model(
    result: FactoryResult,
    bundle_dir: str | os.PathLike[str],
    *,
    version: str,
    offers: list[dict[str, Any]],
    policy: dict[str, Any],
    signing_key: Any,
    key_id: str,
    name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Build the signed bundle of a factory result: model, card, self-test, runtime needs.

    Raises ``QualityGateError`` (with the reasons) when the model failed its quality gate:
    such a model is never bundled.
    """
    from edgemark.bundle import build_bundle

    if not result.passed:
        raise QualityGateError(
            f"Model {result.name} failed its quality gate, so it is not bundled: "
            + "; ".join(result.gate["reasons"])
            + ". Add history or features, or lower min_auc_lift on purpose.",
            reasons=list(result.gate["reasons"]),
        )
    return build_bundle(
        bundle_dir,
        name=name or result.name,
        version=version,
        files=result.files,
        feature_spec_hash=result.card["feature_spec_hash"],
        offers=offers,
        policy=policy,
        metrics=result.metrics,
        signing_key=signing_key,
        key_id=key_id,
        extra={"runtime": result.runtime, "model_card": CARD_JSON, "selftest": SELFTEST_FILE},
        overwrite=overwrite,
    )
