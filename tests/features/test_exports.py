from __future__ import annotations

import edgemark.features


def test_public_names_are_pinned() -> None:
    assert edgemark.features.__all__ == [
        "DEFAULT_CATEGORIES",
        "DEFAULT_SPEC",
        "KINDS",
        "OUTCOME_KINDS",
        "Feature",
        "FeatureSpec",
        "FeatureStore",
        "OnlineFeatures",
        "Outcome",
        "build_training_frame",
        "feature_vectors_at",
        "label_schedule",
        "marketing_library",
    ]
    assert all(hasattr(edgemark.features, name) for name in edgemark.features.__all__)
