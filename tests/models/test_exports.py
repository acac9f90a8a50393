from __future__ import annotations

import edgemark.models


def test_all_is_pinned() -> None:
    assert edgemark.models.__all__ == [
        "DEFAULT_PARAMS",
        "OnnxScorer",
        "PropensityModel",
        "export_onnx",
        "train_propensity",
    ]
    for name in edgemark.models.__all__:
        assert hasattr(edgemark.models, name)
