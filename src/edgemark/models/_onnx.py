"""Export of trained models to ONNX (onnxmltools), the format edge nodes score with.

onnxmltools and onnx are the ``train`` extra, imported inside the function.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from edgemark._extras import require
from edgemark.errors import ModelError

INPUT_NAME = "features"
TARGET_OPSET = 15


def export_onnx(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` (a ``PropensityModel``) as ONNX to ``path`` and return the path.

    Input ``"features"`` float32 ``[None, n_features]``; outputs ``label`` and
    ``probabilities`` (a float tensor ``[n, 2]``: zipmap disabled).
    """
    onnxmltools = require("onnxmltools", "train")
    data_types = require("onnxmltools.convert.common.data_types", "train")
    onnx = require("onnx", "train")
    booster = getattr(model, "booster_", None)
    feature_names = getattr(model, "feature_names", None)
    if booster is None or not feature_names:
        raise ModelError(
            f"export_onnx needs a trained PropensityModel, got {type(model).__name__}."
        )
    booster = float32_exact_booster(booster)
    initial = [(INPUT_NAME, data_types.FloatTensorType([None, len(feature_names)]))]
    try:
        proto = onnxmltools.convert_lightgbm(
            booster, initial_types=initial, target_opset=TARGET_OPSET, zipmap=False
        )
    except Exception as exc:  # converter errors have no common base class
        raise ModelError(f"ONNX export of the LightGBM model failed: {exc}") from exc
    for output in proto.graph.output:
        # The converter declares the label as shape [1]; the batch is dynamic. Saying so keeps
        # ONNX Runtime from warning on every batched call.
        dims = output.type.tensor_type.shape.dim
        if len(dims) >= 1:
            dims[0].Clear()
            dims[0].dim_param = "N"
    proto.doc_string = "edgemark purchase propensity; features: " + ",".join(feature_names)
    onnx.checker.check_model(proto)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto.SerializeToString())
    return out


def float32_exact_booster(booster: Any) -> Any:
    """A copy of a LightGBM booster whose split thresholds are exactly float32 numbers.

    ONNX tree ensembles hold float32 thresholds; rounding LightGBM's float64 threshold to the
    nearest float32 can round *up* onto a data value and flip that split (we saw 1e-2 errors).
    For float32 inputs ``x <= t`` equals ``x <= t32`` where ``t32`` is the largest float32 not
    above ``t``, so this copy predicts exactly like the original on float32 features.
    """
    lgb = require("lightgbm", "train")
    lines = []
    for line in booster.model_to_string().splitlines():
        if line.startswith("tree_sizes="):
            continue  # byte offsets of the trees; they change with the text, parser re-scans
        if line.startswith("threshold="):
            line = "threshold=" + " ".join(repr(float(t)) for t in _floor_f32(line[10:]))
        lines.append(line)
    return lgb.Booster(model_str="\n".join(lines) + "\n")


def _floor_f32(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    values = np.array(text.split(), dtype=np.float64)
    with np.errstate(over="ignore"):
        rounded = values.astype(np.float32)
    up = rounded.astype(np.float64) > values
    rounded[up] = np.nextafter(rounded[up], np.float32(-np.inf))
    return rounded


def runtime_requirements(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest's ``runtime`` object for an ONNX model file (agreement 3).

    Opsets per domain, IR version, the oldest onnxruntime that runs them, and the versions
    of the packages this model was exported and checked with.
    """
    onnx = require("onnx", "train")
    from edgemark.bundle import min_onnxruntime_for

    proto = onnx.load_model_from_string(Path(path).read_bytes())
    opsets = {(o.domain or "ai.onnx"): int(o.version) for o in proto.opset_import}
    return {
        "onnx_opsets": dict(sorted(opsets.items())),
        "onnx_ir_version": int(proto.ir_version),
        "min_onnxruntime": min_onnxruntime_for(opsets),
        "exported_with": _versions(
            ("onnxruntime", "onnx", "onnxmltools", "lightgbm", "scikit-learn", "numpy")
        ),
    }


def _versions(packages: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out
