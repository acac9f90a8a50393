"""The compression step of the factory: student, INT8, and the AUC gate that picks what ships.

A student ships when its test AUC is within ``auc_tolerance`` of the teacher's. Latency
comes first on the edge: INT8 adds a quantize step per layer on every call, so a small MLP
runs slower in INT8 than in float (bench/models.py). The INT8 student therefore ships only
when the float student exceeds ``float_budget_bytes`` and INT8 is smaller and within the
AUC gate. When no student qualifies the float teacher ships; the reason always says why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.models._distill import distill_student, export_student_onnx, quantize_int8
from edgemark.models._metrics import auc_delong
from edgemark.models._scorer import OnnxScorer


def compress(
    model: Any,
    teacher_path: Path,
    x_train: npt.NDArray[np.float32],
    x_test: npt.NDArray[np.float32],
    y_test: npt.NDArray[np.int64],
    out: Path,
    cfg: Any,
) -> dict[str, Any]:
    """Distil, quantize, score every candidate on the test rows, and choose one to bundle.

    Returns ``chosen``, ``reason``, ``files``, ``bytes``, ``auc``, ``auc_delta`` (teacher
    minus candidate) and ``predictions`` (test-period P(y=1) per candidate, for the report).
    """
    files = {"teacher": teacher_path.name}
    student = distill_student(
        model, x_train, hidden=cfg.student_hidden, seed=cfg.seed, max_iter=cfg.distill_max_iter
    )
    files["student_fp32"] = export_student_onnx(student, out / "student_fp32.onnx").name
    if cfg.quantize != "none":
        calibration = x_train[:: max(1, len(x_train) // 512)] if cfg.quantize == "static" else None
        int8 = quantize_int8(
            out / files["student_fp32"], out / "student_int8.onnx", calibration_rows=calibration
        )
        files["student_int8"] = int8.name
    predictions = {n: OnnxScorer(out / f).score(x_test) for n, f in files.items()}
    auc = {n: auc_delong(y_test, p)[0] for n, p in predictions.items()}
    size = {n: (out / f).stat().st_size for n, f in files.items()}
    chosen, reason = _choose(auc, size, cfg.auc_tolerance, cfg.float_budget_bytes)
    return {
        "chosen": chosen,
        "reason": reason,
        "files": files,
        "bytes": size,
        "auc": auc,
        "auc_delta": {n: auc["teacher"] - a for n, a in auc.items()},
        "auc_tolerance": cfg.auc_tolerance,
        "student_hidden": list(cfg.student_hidden),
        "quantize": cfg.quantize,
        "predictions": predictions,
    }


def _choose(
    auc: dict[str, float], size: dict[str, int], tol: float, budget: int
) -> tuple[str, str]:
    floor = auc["teacher"] - tol
    fp32_ok = auc["student_fp32"] >= floor
    int8_ok = "student_int8" in auc and auc["student_int8"] >= floor
    gate = f"teacher AUC {auc['teacher']:.4f} - {tol}"
    over_budget = size["student_fp32"] > budget
    if int8_ok and over_budget and size["student_int8"] < size["student_fp32"]:
        return "student_int8", (
            f"INT8 student: AUC {auc['student_int8']:.4f} >= {gate}, "
            f"{size['student_int8']} bytes (teacher ONNX {size['teacher']})."
        )
    if fp32_ok:
        if "student_int8" not in auc:
            why = "quantization was switched off"
        elif not int8_ok:
            why = f"the INT8 student's AUC {auc['student_int8']:.4f} is below {gate}"
        elif not over_budget:
            why = (
                f"it fits the {budget}-byte budget, and INT8 ({size['student_int8']} bytes, "
                "within the AUC gate) would add a quantize step per layer on every call, "
                "which makes a model this small slower"
            )
        else:
            why = f"the INT8 student is not smaller ({size['student_int8']} bytes)"
        return "student_fp32", (
            f"Float student: AUC {auc['student_fp32']:.4f} >= {gate}, "
            f"{size['student_fp32']} bytes (teacher ONNX {size['teacher']}); kept float "
            f"because {why}."
        )
    return "teacher", (
        f"Float teacher: the student's AUC {auc['student_fp32']:.4f} is below {gate}, so "
        "the compressed model would lose accuracy; the teacher ships uncompressed."
    )
