"""ONNX scoring on the hot path: one ONNX Runtime session, one thread, no per-call allocation.

Imports only numpy and onnxruntime, so an edge node (core install) can use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edgemark.errors import ModelError

_PROBABILITY_NAMES = ("probabilities", "probability", "output_probability", "proba")


class OnnxScorer:
    """Score P(y=1) with a binary classifier exported to ONNX (input ``[None, n_features]``).

    ``score_one`` reuses one preallocated input buffer, so one scorer must not be shared
    between threads; create one per thread instead.
    """

    def __init__(self, model: str | os.PathLike[str] | bytes) -> None:
        data = model if isinstance(model, bytes) else _read(Path(model))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: no shape warnings on stderr per call
        try:
            self._session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own pybind classes for bad models
            raise ModelError(f"Cannot load the ONNX model: {exc}") from None
        self.input_name, self.n_features = _single_input(self._session)
        self.output_name, self._column = _probability_output(self._session)
        self._outputs = [self.output_name]
        self._buffer = np.zeros((1, self.n_features), dtype=np.float32)
        self._feed = {self.input_name: self._buffer}
        self._run = self._session.run

    def score(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """P(y=1) for each row of ``x`` (shape ``(n, n_features)``) as a float64 array."""
        rows = np.ascontiguousarray(x, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise ModelError(
                f"The model expects rows of {self.n_features} features, got an array of shape "
                f"{rows.shape}. Build features with the bundle's feature spec."
            )
        if rows.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        out = self._run(self._outputs, {self.input_name: rows})[0]
        return _column(out, self._column).astype(np.float64)

    def score_one(self, vec: npt.ArrayLike) -> float:
        """P(y=1) for one feature vector of length ``n_features``."""
        try:
            self._buffer[0] = vec  # casts to float32 in place, no new input array
        except (ValueError, TypeError):
            shape = np.shape(vec)
            raise ModelError(
                f"The model expects {self.n_features} features, got a vector of shape {shape}. "
                "Build features with the bundle's feature spec."
            ) from None
        if np.ndim(vec) != 1:
            raise ModelError(f"score_one takes one vector; got shape {np.shape(vec)}.")
        out = self._run(self._outputs, self._feed)[0]
        return float(_column(out, self._column)[0])

    def __repr__(self) -> str:
        return f"OnnxScorer(n_features={self.n_features}, output={self.output_name!r})"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"Cannot read the ONNX model {path}: {exc.strerror}.") from None


def _single_input(session: ort.InferenceSession) -> tuple[str, int]:
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"The ONNX model must have one input; it has {len(inputs)}.")
    (inp,) = inputs
    shape = inp.shape
    if inp.type != "tensor(float)" or len(shape) != 2 or not isinstance(shape[1], int):
        raise ModelError(
            f"The ONNX model's input {inp.name!r} must be float32 [batch, n_features]; "
            f"it is {inp.type} {shape}."
        )
    return str(inp.name), int(shape[1])


def _probability_output(session: ort.InferenceSession) -> tuple[str, int | None]:
    """The output holding P(y=1) and the column to read from it (None: already 1-d)."""
    outputs = {o.name: o for o in session.get_outputs()}
    ordered = [outputs[n] for n in _PROBABILITY_NAMES if n in outputs]
    ordered += [o for o in outputs.values() if o not in ordered]
    for out in ordered:
        if out.type != "tensor(float)":
            continue
        shape = out.shape
        if len(shape) == 2 and shape[1] in (1, 2):
            return str(out.name), int(shape[1]) - 1
        if len(shape) == 1:
            return str(out.name), None
    raise ModelError(
        "The ONNX model has no float probability output ([n, 2], [n, 1] or [n]); outputs: "
        + ", ".join(f"{o.name} {o.type}" for o in outputs.values())
        + ". Export classifiers with zipmap disabled (edgemark.models.export_onnx does)."
    )


def _column(out: Any, column: int | None) -> npt.NDArray[np.float32]:
    arr = np.asarray(out)
    return arr if column is None else arr[:, column]
