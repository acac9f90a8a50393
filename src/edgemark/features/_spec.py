"""The declarative feature spec shared by the batch and online engines, and its hash.

A ``FeatureSpec`` is declared once; both engines read it, so a model trained on batch frames
sees the same numbers at the edge. ``spec_hash`` pins a spec inside a bundle manifest.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgemark.errors import FeatureError
from edgemark.events import EVENT_TYPES

KINDS: tuple[str, ...] = ("count", "sum_amount", "recency_days", "decayed_count")
RESERVED_NAMES = frozenset({"user", "label_time", "label", "ts"})
DAY_SECONDS = 86400


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature: ``kind`` over events of ``event_type``.

    Kinds: ``count`` and ``sum_amount`` (in a window of ``window_days``), ``recency_days``
    (days since the last event, capped by the spec's ``recency_cap_days``) and
    ``decayed_count`` (sum of ``2 ** -(age / half_life)`` over all past events).

    Examples
    --------
    >>> Feature("purchases_30d", "count", "purchase", window_days=30).window_days
    30
    """

    name: str
    kind: str
    event_type: str
    window_days: float | None = None
    half_life_days: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise FeatureError(f"feature name {self.name!r} must be a Python-style identifier")
        if self.name in RESERVED_NAMES:
            raise FeatureError(f"feature name {self.name!r} is reserved for a frame column")
        if self.kind not in KINDS:
            raise FeatureError(
                f"feature {self.name!r}: unknown kind {self.kind!r}; known kinds: "
                f"{', '.join(KINDS)}"
            )
        if self.event_type not in EVENT_TYPES:
            raise FeatureError(
                f"feature {self.name!r}: unknown event type {self.event_type!r}; known types: "
                f"{', '.join(EVENT_TYPES)}"
            )
        windowed = self.kind in ("count", "sum_amount")
        _check_param(self.name, self.kind, "window_days", self.window_days, needed=windowed)
        decayed = self.kind == "decayed_count"
        _check_param(self.name, self.kind, "half_life_days", self.half_life_days, needed=decayed)

    def to_dict(self) -> dict[str, Any]:
        """Return the feature as a JSON-safe dict (numbers as floats, for a stable hash)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "event_type": self.event_type,
            "window_days": None if self.window_days is None else float(self.window_days),
            "half_life_days": None if self.half_life_days is None else float(self.half_life_days),
        }


def _check_param(name: str, kind: str, param: str, value: float | None, *, needed: bool) -> None:
    if not needed:
        if value is not None:
            raise FeatureError(f"feature {name!r}: kind {kind!r} takes no {param}")
        return
    if value is None:
        raise FeatureError(f"feature {name!r}: kind {kind!r} needs {param}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FeatureError(f"feature {name!r}: {param} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise FeatureError(f"feature {name!r}: {param} must be > 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """An ordered tuple of features plus the bucket size and the recency cap.

    Window semantics (both engines, exact): as of time ``t`` an event at ``ts`` counts iff
    ``ts <= t`` and ``floor(ts/bucket) > floor(t/bucket) - window_days*86400/bucket``.

    Examples
    --------
    >>> DEFAULT_SPEC.names[:2]
    ('recency_purchase_days', 'purchases_30d')
    >>> len(DEFAULT_SPEC.spec_hash())
    64
    """

    features: tuple[Feature, ...]
    bucket_seconds: int = 3600
    recency_cap_days: float = 365.0
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        features = tuple(self.features)
        object.__setattr__(self, "features", features)
        if not features:
            raise FeatureError("a feature spec needs at least one feature")
        if not all(isinstance(f, Feature) for f in features):
            raise FeatureError("a feature spec holds Feature objects only")
        bucket = self.bucket_seconds
        if isinstance(bucket, bool) or not isinstance(bucket, int) or bucket <= 0:
            raise FeatureError(f"bucket_seconds must be a positive integer, got {bucket!r}")
        cap = self.recency_cap_days
        if isinstance(cap, bool) or not isinstance(cap, int | float) or not 0 < cap < math.inf:
            raise FeatureError(f"recency_cap_days must be a positive number, got {cap!r}")
        names = tuple(f.name for f in features)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FeatureError(f"duplicate feature names: {', '.join(duplicates)}")
        for feature in features:
            if feature.window_days is not None:
                self.window_buckets(feature)  # raises when not a whole number of buckets
        object.__setattr__(self, "names", names)

    def window_buckets(self, feature: Feature) -> int:
        """Return the window of ``feature`` in buckets (a whole number, else FeatureError)."""
        if feature.window_days is None:
            raise FeatureError(f"feature {feature.name!r} has no window")
        buckets = feature.window_days * DAY_SECONDS / self.bucket_seconds
        if buckets != int(buckets):
            raise FeatureError(
                f"feature {feature.name!r}: window of {feature.window_days} days is not a "
                f"whole number of {self.bucket_seconds}-second buckets"
            )
        return int(buckets)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-safe dict; ``FeatureSpec.from_dict`` reverses it."""
        return {
            "bucket_seconds": self.bucket_seconds,
            "recency_cap_days": float(self.recency_cap_days),
            "features": [f.to_dict() for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build a spec from ``to_dict`` output; ``FeatureError`` on bad input."""
        try:
            features = tuple(Feature(**f) for f in data["features"])
            return cls(features, int(data["bucket_seconds"]), float(data["recency_cap_days"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise FeatureError(f"not a feature spec: {exc}") from exc

    def spec_hash(self) -> str:
        """Return the sha256 hex of the canonical JSON of the spec."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


DEFAULT_SPEC = FeatureSpec(
    (
        Feature("recency_purchase_days", "recency_days", "purchase"),
        Feature("purchases_30d", "count", "purchase", window_days=30),
        Feature("purchases_90d", "count", "purchase", window_days=90),
        Feature("spend_30d", "sum_amount", "purchase", window_days=30),
        Feature("spend_90d", "sum_amount", "purchase", window_days=90),
        Feature("views_7d", "count", "view", window_days=7),
        Feature("carts_7d", "count", "add_to_cart", window_days=7),
        Feature("view_intensity", "decayed_count", "view", half_life_days=3),
    )
)
