"""Bench: the model factory's teacher and students, side by side in one process.

Simulates 126 days of a 4000-customer retail world (long enough to fill the spec's 90-day
windows), builds the point-in-time frame, runs the factory (LightGBM teacher, distilled
MLP student, INT8), and measures for LightGBM native, LightGBM ONNX, student FP32 ONNX and
student INT8 ONNX: file size, single-row latency P50/P99 (ONNX Runtime, one thread),
batch-of-1024 throughput and test-period AUC. Also tries plain INT8 of the teacher.
Prints one JSON object: {"bench": "models", "figures": {...}}.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.features import DEFAULT_SPEC, build_training_frame, label_schedule
from edgemark.models import OnnxScorer, auc_delong, quantize_int8, train_model
from edgemark.sim import SimConfig, generate

SINGLE_CALLS = 20_000
BATCH = 1024
BATCH_CALLS = 30


def _latency_us(call: Callable[[Any], Any], rows: np.ndarray) -> tuple[float, float]:
    for row in rows[:500]:
        call(row)
    times = np.empty(SINGLE_CALLS)
    for i in range(SINGLE_CALLS):
        row = rows[i % len(rows)]
        start = time.perf_counter_ns()
        call(row)
        times[i] = time.perf_counter_ns() - start
    p50, p99 = np.percentile(times, [50, 99]) / 1000.0
    return float(p50), float(p99)


def _throughput(call: Callable[[Any], Any], rows: np.ndarray) -> float:
    batch = rows[:BATCH]
    call(batch)
    start = time.perf_counter()
    for _ in range(BATCH_CALLS):
        call(batch)
    return BATCH * BATCH_CALLS / (time.perf_counter() - start)


def _measure(
    name: str, single: Callable[[Any], Any], batch: Callable[[Any], Any], size: int, x: Any, y: Any
) -> dict[str, Any]:
    p50, p99 = _latency_us(single, x)
    return {
        "bytes": size,
        "p50_us": round(p50, 2),
        "p99_us": round(p99, 2),
        "rows_per_s_batch_1024": round(_throughput(batch, x)),
        "auc": auc_delong(y, batch(x))[0],
    }


def _teacher_int8(teacher: Path, out: Path) -> dict[str, Any]:
    """Plain dynamic INT8 of the teacher: tree ensembles have no INT8 kernels to map to."""
    import onnx

    quantized = quantize_int8(teacher, out)
    ops = {n.op_type for n in onnx.load(str(quantized)).graph.node}
    changed = quantized.read_bytes() != teacher.read_bytes()
    applies = bool(ops & {"MatMulInteger", "DynamicQuantizeLinear", "QLinearMatMul"})
    return {
        "applies": applies,
        "ops": sorted(ops),
        "bytes": quantized.stat().st_size,
        "bytes_changed": changed,
        "note": "ONNX Runtime quantizes MatMul/Gemm/Conv weights; a TreeEnsemble has none, "
        "so INT8 of the teacher is not applicable (thresholds stay float32).",
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        events = generate(SimConfig(customers=4000, days=126, seed=11), root / "sim").events_path
        times = label_schedule(str(events), every_days=3, horizon_days=7)
        frame = build_training_frame(str(events), DEFAULT_SPEC, times, horizon_days=7)
        names = list(DEFAULT_SPEC.names)
        start = time.perf_counter()
        result = train_model(
            frame, names, root / "factory", feature_spec_hash=DEFAULT_SPEC.spec_hash()
        )
        factory_s = time.perf_counter() - start
        test = frame["label_time"].to_numpy() >= result.metrics["split_time"]
        x = frame[names].to_numpy(np.float32)[test]
        y = frame["label"].to_numpy()[test]
        out, comp = result.out_dir, result.compression
        booster = result.model.booster_
        native = _measure(
            "lightgbm_native",
            lambda r: booster.predict(r.reshape(1, -1)),
            booster.predict,
            len(booster.model_to_string().encode()),
            x,
            y,
        )
        variants = {"lightgbm_native": native}
        for name, file in comp["files"].items():
            scorer = OnnxScorer(out / file)
            label = "lightgbm_onnx" if name == "teacher" else name
            variants[label] = _measure(
                label, scorer.score_one, scorer.score, (out / file).stat().st_size, x, y
            )
        bundled = "lightgbm_onnx" if comp["chosen"] == "teacher" else comp["chosen"]
        teacher, student = variants["lightgbm_onnx"], variants[bundled]
        figures = {
            "teacher_onnx_bytes": teacher["bytes"],
            "student_bytes": student["bytes"],
            "size_ratio": round(teacher["bytes"] / student["bytes"], 2),
            "teacher_auc": teacher["auc"],
            "student_auc": student["auc"],
            "auc_delta": teacher["auc"] - student["auc"],
            "teacher_p99_us": teacher["p99_us"],
            "student_p99_us": student["p99_us"],
            "teacher_p50_us": teacher["p50_us"],
            "student_p50_us": student["p50_us"],
            "bundled": comp["chosen"],
            "bundle_reason": comp["reason"],
            "quality_gate": result.gate,
            "baseline_auc": {
                n: r["auc"]["value"] for n, r in result.evaluation["baselines"].items()
            },
            "variants": variants,
            "teacher_int8": _teacher_int8(out / "teacher.onnx", root / "teacher_int8.onnx"),
            "rows": {"train": result.metrics["n_train"], "test": int(test.sum())},
            "factory_seconds": round(factory_s, 1),
            "targets_met": {
                "size_ratio_ge_4": teacher["bytes"] >= 4 * student["bytes"],
                "student_p99_le_teacher": student["p99_us"] <= teacher["p99_us"],
                "auc_gate": teacher["auc"] - student["auc"] <= 0.005,
            },
        }
    print(json.dumps({"bench": "models", "figures": figures}, sort_keys=True))


if __name__ == "__main__":
    main()
