"""Compression for the edge: distil a LightGBM teacher into a small MLP student, ONNX, INT8.

The student (scikit-learn ``MLPRegressor``) learns the teacher's logit on ``asinh``-scaled
features; its ONNX graph computes that transform, the MLP and a sigmoid, so it scores like
the teacher. Quantization uses ONNX Runtime's tools. Everything here is the ``train`` extra.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import ModelError
from edgemark.models._onnx import INPUT_NAME

STUDENT_OPSET = 15
PROBABILITY_OUTPUT = "probability"


class StudentModel:
    """A distilled MLP: ``predict`` gives P(y=1) = sigmoid(mlp(standardised asinh(x))).

    Made by ``distill_student``; ``pipeline_`` is the fitted scaler + ``MLPRegressor``.
    """

    def __init__(self, pipeline: Any, feature_names: Sequence[str], hidden: Sequence[int]):
        self.pipeline_ = pipeline
        self.feature_names = tuple(feature_names)
        self.hidden = tuple(hidden)

    def predict(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """P(y=1) for each row of ``x``."""
        logits = np.asarray(self.pipeline_.predict(_asinh(x)), dtype=np.float64)
        return np.asarray(1.0 / (1.0 + np.exp(-logits.ravel())), dtype=np.float64)

    def __repr__(self) -> str:
        return f"StudentModel(n_features={len(self.feature_names)}, hidden={self.hidden})"


def distill_student(
    teacher: Any,
    x_train: npt.ArrayLike,
    *,
    hidden: Sequence[int] = (32, 16),
    seed: int = 0,
    max_iter: int = 60,
    augment: int = 1,
) -> StudentModel:
    """Fit an MLP student to the teacher's logits on ``x_train`` (plus augmented rows).

    ``teacher`` is a ``PropensityModel``. ``augment`` adds that many copies of the rows
    with 20% of their cells swapped for the same column of another random row, labelled by
    the teacher, so the student also sees the teacher between the training points.
    """
    pipeline_mod = require("sklearn.pipeline", "train")
    preprocessing = require("sklearn.preprocessing", "train")
    network = require("sklearn.neural_network", "train")
    x = np.asarray(x_train, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] < 10:
        raise ModelError(f"Distillation needs a 2-d array of at least 10 rows, got {x.shape}.")
    x = np.concatenate([x, *_swap_noise(x, augment, seed)])
    target = np.asarray(teacher.booster_.predict(x, raw_score=True), dtype=np.float64)
    mlp = network.MLPRegressor(
        hidden_layer_sizes=tuple(hidden),
        random_state=seed,
        max_iter=max_iter,
        batch_size=256,
        learning_rate_init=2e-3,
        alpha=1e-5,
        early_stopping=False,
    )
    pipeline = pipeline_mod.make_pipeline(preprocessing.StandardScaler(), mlp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: the AUC gate judges the student
        pipeline.fit(_asinh(x), target)
    return StudentModel(pipeline, teacher.feature_names, hidden)


def _asinh(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(np.arcsinh(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def _swap_noise(x: npt.NDArray[np.float32], copies: int, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed + 7919)
    out = []
    for _ in range(max(0, copies)):
        donor = x[rng.integers(0, x.shape[0], x.shape[0])]
        swap = rng.random(x.shape) < 0.2
        out.append(np.where(swap, donor, x))
    return out


def export_student_onnx(student: StudentModel, path: str | os.PathLike[str]) -> Path:
    """Write the student as ONNX: input ``features`` [N, d] float32, output ``probability`` [N, 1].

    The graph is ``Asinh -> (Gemm -> Relu)* -> Gemm -> Sigmoid`` with the scaler folded into
    the first layer: seven nodes for two hidden layers, which keeps a single-row call as
    cheap as the tree ensemble's one node (a skl2onnx graph of the same pipeline has 15).
    """
    onnx = require("onnx", "train")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    weights, biases = _folded_layers(student)
    nodes = [helper.make_node("Asinh", [INPUT_NAME], ["h0"], name="asinh")]
    inits = []
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        last = k == len(weights) - 1
        out = "logit" if last else f"z{k + 1}"
        inits += [numpy_helper.from_array(w, f"w{k}"), numpy_helper.from_array(b, f"b{k}")]
        nodes.append(helper.make_node("Gemm", [f"h{k}", f"w{k}", f"b{k}"], [out], name=f"gemm{k}"))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"h{k + 1}"], name=f"relu{k}"))
    nodes.append(helper.make_node("Sigmoid", ["logit"], [PROBABILITY_OUTPUT], name="sigmoid"))
    d = len(student.feature_names)
    graph = helper.make_graph(
        nodes,
        "edgemark_student",
        [helper.make_tensor_value_info(INPUT_NAME, onnx.TensorProto.FLOAT, [None, d])],
        [helper.make_tensor_value_info(PROBABILITY_OUTPUT, onnx.TensorProto.FLOAT, ["N", 1])],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", STUDENT_OPSET)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="edgemark")
    proto.ir_version = 8  # what onnxruntime >= 1.18 (our floor) reads
    proto.doc_string = "edgemark distilled student; features: " + ",".join(student.feature_names)
    onnx.checker.check_model(proto)
    out_path = Path(path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(proto.SerializeToString())
    return out_path


def _folded_layers(student: StudentModel) -> tuple[list[Any], list[Any]]:
    """float32 (weights, biases) per layer, the scaler folded into the first layer."""
    scaler, mlp = student.pipeline_[0], student.pipeline_[-1]
    weights = [np.asarray(w, dtype=np.float64) for w in mlp.coefs_]
    biases = [np.asarray(b, dtype=np.float64) for b in mlp.intercepts_]
    scale = np.where(scaler.scale_ == 0, 1.0, scaler.scale_)
    # ((x - mean) / scale) @ W + b  ==  x @ (W / scale) + (b - (mean / scale) @ W)
    biases[0] = biases[0] - (scaler.mean_ / scale) @ weights[0]
    weights[0] = weights[0] / scale[:, None]
    return [w.astype(np.float32) for w in weights], [b.astype(np.float32) for b in biases]


def quantize_int8(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    calibration_rows: npt.ArrayLike | None = None,
) -> Path:
    """INT8-quantize the weights of an ONNX model with ONNX Runtime's tools.

    Without ``calibration_rows``: dynamic quantization (INT8 weights, activations quantized
    per call). With rows: static QDQ quantization calibrated on them (MinMax).
    """
    quantization = require("onnxruntime.quantization", "train")
    out = Path(dst)
    out.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    quiet = _DropQuantizerAdvice()
    root.addFilter(quiet)  # ORT logs a pre-processing tip on the root logger on every call
    try:
        if calibration_rows is None:
            quantization.quantize_dynamic(Path(src), out, weight_type=quantization.QuantType.QInt8)
        else:
            rows = np.asarray(calibration_rows, dtype=np.float32)
            quantization.quantize_static(
                Path(src),
                out,
                _Reader(rows),
                quant_format=quantization.QuantFormat.QDQ,
                activation_type=quantization.QuantType.QInt8,
                weight_type=quantization.QuantType.QInt8,
            )
    except Exception as exc:  # ORT's quantizer raises plain exceptions of many kinds
        raise ModelError(f"INT8 quantization of {src} failed: {exc}") from exc
    finally:
        root.removeFilter(quiet)
    return out


class _DropQuantizerAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


class _Reader:
    """A calibration data reader over fixed rows (the interface ORT's quantizer calls)."""

    def __init__(self, rows: npt.NDArray[np.float32]) -> None:
        self._batches = iter([{INPUT_NAME: rows[i : i + 64]} for i in range(0, len(rows), 64)])

    def get_next(self) -> dict[str, Any] | None:
        return next(self._batches, None)
