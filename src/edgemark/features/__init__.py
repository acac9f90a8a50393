"""Features plane: one declarative spec, two engines with one meaning.

``OnlineFeatures`` (core: stdlib + numpy) keeps incremental per-user state on the edge;
``build_training_frame`` (DuckDB, extra ``train``) builds point-in-time-correct frames.
"""

from __future__ import annotations

from edgemark.features._batch import build_training_frame, feature_vectors_at, label_schedule
from edgemark.features._online import OnlineFeatures
from edgemark.features._spec import DEFAULT_SPEC, Feature, FeatureSpec

__all__ = [
    "DEFAULT_SPEC",
    "Feature",
    "FeatureSpec",
    "OnlineFeatures",
    "build_training_frame",
    "feature_vectors_at",
    "label_schedule",
]
