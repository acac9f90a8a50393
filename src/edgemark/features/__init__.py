"""Features plane: one declarative spec, two engines with one meaning.

``OnlineFeatures`` (core: stdlib + numpy) keeps incremental per-user state on the edge;
``build_training_frame`` (DuckDB, extra ``train``) builds point-in-time-correct frames.
"""

from __future__ import annotations

from edgemark.features._batch import build_training_frame, feature_vectors_at, label_schedule
from edgemark.features._library import DEFAULT_CATEGORIES, DEFAULT_SPEC, marketing_library
from edgemark.features._online import OnlineFeatures
from edgemark.features._outcomes import OUTCOME_KINDS, Outcome
from edgemark.features._spec import KINDS, Feature, FeatureSpec
from edgemark.features._store import FeatureStore

__all__ = [
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
