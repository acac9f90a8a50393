from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.errors import ModelError
from edgemark.models import OnnxScorer


def test_onnx_equals_lightgbm_on_all_test_rows(
    trained: dict[str, Any], onnx_path: Path, features: tuple[str, ...]
) -> None:
    frame, model = trained["frame"], trained["model"]
    test = frame[frame["label_time"] >= model.metrics_["split_time"]]
    x = test[list(features)].to_numpy(np.float32)

    onnx_scores = OnnxScorer(onnx_path).score(x)
    lgb_scores = model.predict(x)

    assert onnx_scores.shape == (len(test),)
    assert np.max(np.abs(onnx_scores - lgb_scores)) < 1e-5


def test_score_one_equals_score_and_bytes_equal_path(
    onnx_path: Path, features: tuple[str, ...]
) -> None:
    scorer = OnnxScorer(onnx_path)
    from_bytes = OnnxScorer(onnx_path.read_bytes())
    rows = np.random.default_rng(0).gamma(2.0, 3.0, size=(50, len(features)))

    batch = scorer.score(rows)
    singles = [scorer.score_one(row) for row in rows]

    assert scorer.n_features == len(features) and scorer.input_name == "features"
    assert scorer.output_name == "probabilities"
    np.testing.assert_allclose(singles, batch, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(from_bytes.score(rows), batch)
    assert all(0.0 < s < 1.0 for s in singles) and isinstance(singles[0], float)
    assert scorer.score(np.zeros((0, len(features)))).shape == (0,)


@pytest.mark.parametrize("shape", [(4,), (6,), (2, 5), ()])
def test_score_one_wrong_width_is_model_error(onnx_path: Path, shape: tuple[int, ...]) -> None:
    scorer = OnnxScorer(onnx_path)
    with pytest.raises(ModelError, match=r"features|one vector"):
        scorer.score_one(np.ones(shape))


def test_score_wrong_width_is_model_error(onnx_path: Path, features: tuple[str, ...]) -> None:
    scorer = OnnxScorer(onnx_path)
    with pytest.raises(ModelError, match=f"expects rows of {len(features)} features"):
        scorer.score(np.ones((3, len(features) - 1)))
    with pytest.raises(ModelError, match="expects rows"):
        scorer.score(np.ones(len(features)))


def test_unreadable_model_is_model_error(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="Cannot load the ONNX model"):
        OnnxScorer(tmp_path / "bad.onnx")
    with pytest.raises(ModelError, match="Cannot read"):
        OnnxScorer(tmp_path / "missing.onnx")


def test_scorer_module_imports_only_core() -> None:
    code = (
        "import sys, edgemark.models._scorer, edgemark.models\n"
        "bad = {'lightgbm','sklearn','onnxmltools','onnx','pandas','pyarrow','duckdb','scipy'}\n"
        "print(sorted(bad & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
