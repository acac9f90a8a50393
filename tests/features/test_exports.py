from __future__ import annotations

import edgemark.features


def test_public_names_are_pinned() -> None:
    assert edgemark.features.__all__ == [
        "DEFAULT_SPEC",
        "Feature",
        "FeatureSpec",
        "OnlineFeatures",
        "build_training_frame",
        "feature_vectors_at",
        "label_schedule",
    ]
    assert all(hasattr(edgemark.features, name) for name in edgemark.features.__all__)
