"""Bundle self-tests (cross-issue agreement 1): rows, the exported model's outputs, tolerance.

Core (numpy + onnxruntime): the factory writes ``selftest.json``; an edge node runs it on
the scorer it just built, before swapping the bundle in.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import BundleError, ModelError
from edgemark.models._scorer import OnnxScorer

SELFTEST_FILE = "selftest.json"
SELFTEST_TOLERANCE = 1e-4


def make_selftest(
    scorer_or_model_path: OnnxScorer | str | os.PathLike[str], rows: npt.ArrayLike
) -> dict[str, Any]:
    """The ``selftest.json`` object for ``rows`` scored by the exported ONNX model.

    Rows are rounded to float32 first, so the stored inputs are exactly what ORT scores.
    """
    scorer = (
        scorer_or_model_path
        if isinstance(scorer_or_model_path, OnnxScorer)
        else OnnxScorer(scorer_or_model_path)
    )
    x = np.asarray(rows, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ModelError(f"A self-test needs a non-empty 2-d array of rows, got shape {x.shape}.")
    expected = scorer.score(x)
    return {
        "inputs": [[float(v) for v in row] for row in x],
        "expected": [float(v) for v in expected],
        "tolerance": SELFTEST_TOLERANCE,
    }


def run_selftest(scorer: OnnxScorer, selftest: Any) -> float:
    """Score the self-test rows and raise ``BundleError("self-test failed: ...")`` on mismatch.

    Returns the largest absolute difference seen.
    """
    try:
        x = np.asarray(selftest["inputs"], dtype=np.float32)
        expected = np.asarray(selftest["expected"], dtype=np.float64)
        tolerance = float(selftest["tolerance"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"self-test failed: selftest.json is malformed ({exc}).") from None
    if x.ndim != 2 or expected.shape != (x.shape[0],):
        raise BundleError(
            f"self-test failed: {x.shape[0] if x.ndim else 0} input rows but "
            f"{expected.size} expected values."
        )
    try:
        got = scorer.score(x)
    except ModelError as exc:
        raise BundleError(f"self-test failed: {exc}") from None
    diff = np.abs(got - expected)
    worst = int(np.argmax(diff))
    if diff[worst] > tolerance:
        raise BundleError(
            f"self-test failed: row {worst} scores {got[worst]:.6f}, the bundle expects "
            f"{expected[worst]:.6f} (tolerance {tolerance}); this node's runtime does not "
            "reproduce the model. Keep the serving bundle and report it."
        )
    return float(diff.max())
