"""The federated propensity model: logistic regression on ``asinh`` features, in numpy.

Parameters are one flat float64 vector (weights then bias), so a model update is one
vector to clip and noise. Local training is plain mini-batch SGD; ``export_logistic_onnx``
writes the same ``features -> probability`` graph shape the distilled students use, so
the edge scores a federated model like any other bundle.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import ModelError

FloatArray = npt.NDArray[np.float64]
ONNX_OPSET = 15


def transform(x: npt.ArrayLike) -> FloatArray:
    """The fixed, data-free input transform (no statistics of anyone's data are needed)."""
    return np.asarray(np.arcsinh(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def init_params(n_features: int) -> FloatArray:
    """Zero weights and bias (a model that says 0.5 for everyone)."""
    return np.zeros(n_features + 1, dtype=np.float64)


def predict(params: FloatArray, x: npt.ArrayLike) -> FloatArray:
    """P(y=1) for each row of raw features ``x``."""
    z = transform(x) @ params[:-1] + params[-1]
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))), dtype=np.float64)


def log_loss(params: FloatArray, x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Mean binary cross-entropy of ``params`` on (x, y)."""
    p = np.clip(predict(params, x), 1e-12, 1 - 1e-12)
    t = np.asarray(y, dtype=np.float64)
    return float(-np.mean(t * np.log(p) + (1 - t) * np.log(1 - p)))


def local_sgd(
    params: FloatArray,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    epochs: int = 1,
    lr: float = 0.1,
    batch_size: int = 64,
    l2: float = 1e-4,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """Parameters after ``epochs`` of mini-batch SGD on the logistic loss from ``params``."""
    feats = transform(x)
    t = np.asarray(y, dtype=np.float64)
    w = np.array(params, dtype=np.float64, copy=True)
    gen = rng if rng is not None else np.random.default_rng(0)
    n = len(t)
    for _ in range(epochs):
        order = gen.permutation(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb = feats[idx]
            p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w[:-1] + w[-1], -30, 30)))
            err = p - t[idx]
            w[:-1] -= lr * (xb.T @ err / len(idx) + l2 * w[:-1])
            w[-1] -= lr * float(err.mean())
    return w


def train_central(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    epochs: int = 20,
    lr: float = 0.1,
    batch_size: int = 256,
    seed: int = 0,
) -> FloatArray:
    """The central baseline: the same model trained on the pooled data."""
    n_features = np.asarray(x).shape[1]
    rng = np.random.default_rng(seed)
    return local_sgd(
        init_params(n_features), x, y, epochs=epochs, lr=lr, batch_size=batch_size, rng=rng
    )


def auc(y: npt.ArrayLike, score: npt.ArrayLike) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half).

    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    t = np.asarray(y, dtype=np.int64)
    s = np.asarray(score, dtype=np.float64)
    pos, neg = int(t.sum()), int(len(t) - t.sum())
    if pos == 0 or neg == 0:
        raise ModelError("AUC needs both classes in the held-out set")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = (ends - (counts - 1) / 2.0)[inverse]  # average rank of tied scores
    return float((ranks[t == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def export_logistic_onnx(
    params: FloatArray, feature_names: Sequence[str], path: str | os.PathLike[str]
) -> Path:
    """Write the model as ONNX: ``features`` [N, d] float32 -> ``probability`` [N, 1]."""
    onnx = require("onnx", "train")
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    d = len(feature_names)
    if params.shape != (d + 1,):
        raise ModelError(f"expected {d + 1} parameters for {d} features, got {params.shape}")
    w = params[:-1].reshape(d, 1).astype(np.float32)
    b = params[-1:].astype(np.float32)
    nodes = [
        helper.make_node("Asinh", ["features"], ["h"], name="asinh"),
        helper.make_node("Gemm", ["h", "w", "b"], ["logit"], name="gemm"),
        helper.make_node("Sigmoid", ["logit"], ["probability"], name="sigmoid"),
    ]
    graph = helper.make_graph(
        nodes,
        "edgemark_federated_logistic",
        [helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, [None, d])],
        [helper.make_tensor_value_info("probability", onnx.TensorProto.FLOAT, ["N", 1])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="edgemark"
    )
    proto.ir_version = 8  # what onnxruntime >= 1.18 (the core floor) reads
    proto.doc_string = "edgemark federated logistic; features: " + ",".join(feature_names)
    onnx.checker.check_model(proto)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(proto.SerializeToString())
    return out
