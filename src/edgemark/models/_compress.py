"""The compression step of the factory: student, INT8, and the AUC gate that picks what ships.

A student ships when its test AUC is within ``auc_tolerance`` of the teacher's; the INT8
student only when it also saves at least ``int8_min_saving`` of the float student's bytes
(dynamic INT8 quantizes activations on every call, which costs a tiny MLP more time than
the saved bytes are worth). When no student qualifies the float teacher ships; the reason
always says why.
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
    chosen, reason = _choose(auc, size, cfg.auc_tolerance, cfg.int8_min_saving)
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
    auc: dict[str, float], size: dict[str, int], tol: float, min_saving: float
) -> tuple[str, str]:
    floor = auc["teacher"] - tol
    fp32_ok = auc["student_fp32"] >= floor
    int8_ok = "student_int8" in auc and auc["student_int8"] >= floor
    gate = f"teacher AUC {auc['teacher']:.4f} - {tol}"
    small_enough = int8_ok and size["student_int8"] <= (1 - min_saving) * size["student_fp32"]
    if small_enough:
        return "student_int8", (
            f"INT8 student: AUC {auc['student_int8']:.4f} >= {gate}, "
            f"{size['student_int8']} bytes (teacher ONNX {size['teacher']})."
        )
    if fp32_ok:
        if "student_int8" not in auc:
            why = "quantization was switched off"
        elif not int8_ok:
            why = f"the INT8 student's AUC {auc['student_int8']:.4f} is below {gate}"
        else:
            why = (
                f"the INT8 student passes the AUC gate but saves less than {min_saving:.0%} "
                f"of the bytes ({size['student_int8']} vs {size['student_fp32']}): at this "
                "size its quantization scales and per-call activation quantization cost more "
                "than the saved weight bytes"
            )
        return "student_fp32", (
            f"Float student: AUC {auc['student_fp32']:.4f} >= {gate}, "
            f"{size['student_fp32']} bytes (teacher ONNX {size['teacher']}); kept float "
            f"because {why}."
        )
    return "teacher", (
        f"Float teacher: the student's AUC {auc['student_fp32']:.4f} is below {gate}, so "
        "the compressed model would lose accuracy; the teacher ships uncompressed."
    )
