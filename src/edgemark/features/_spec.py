"""The declarative feature spec shared by the batch and online engines, and its hash.

A ``FeatureSpec`` is declared once in Python; both engines read it, so a model trained on
batch frames sees the same numbers at the edge. It serialises to canonical JSON whose
sha256 (``spec_hash``) pins the spec inside a bundle manifest.
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
from edgemark.features._local import load_zone

DAY_SECONDS = 86400
RESERVED_NAMES = frozenset({"user", "label_time", "label", "ts"})
PARAMS: tuple[str, ...] = (
    "event_type",
    "window_days",
    "half_life_days",
    "category",
    "within_hours",
    "cap",
)
# The parameters each kind needs (and the only ones it takes).
KIND_PARAMS: dict[str, frozenset[str]] = {
    "count": frozenset({"event_type", "window_days"}),
    "sum_amount": frozenset({"event_type", "window_days"}),
    "mean_amount": frozenset({"event_type", "window_days"}),
    "recency_days": frozenset({"event_type"}),
    "decayed_count": frozenset({"event_type", "window_days", "half_life_days"}),
    "distinct_categories": frozenset({"event_type", "window_days", "cap"}),
    "category_share": frozenset({"event_type", "window_days", "category"}),
    "session_count": frozenset({"window_days"}),
    "events_per_session": frozenset({"window_days"}),
    "session_age_minutes": frozenset(),
    "cart_abandonment": frozenset({"window_days", "within_hours"}),
    "offer_fatigue": frozenset({"window_days", "cap"}),
    "hour_of_day": frozenset(),
    "day_of_week": frozenset(),
}
KINDS: tuple[str, ...] = tuple(KIND_PARAMS)
SESSION_KINDS = frozenset({"session_count", "events_per_session", "session_age_minutes"})
CONTEXT_KINDS = frozenset({"hour_of_day", "day_of_week"})
BEHAVIOUR_TYPES: tuple[str, ...] = tuple(t for t in EVENT_TYPES if t != "consent")


@dataclass(frozen=True, slots=True)
class Feature:
    """One feature of the library: ``kind`` with the parameters that kind takes.

    Kinds (windows are bucketed, see ``FeatureSpec``): ``count``, ``sum_amount`` and
    ``mean_amount`` of events of ``event_type``; ``recency_days`` (capped by the spec);
    ``decayed_count`` (sum of ``2 ** -(age / half_life)`` over the window);
    ``distinct_categories`` (at most ``cap``); ``category_share`` (share of the window's
    events in ``category``); ``session_count``, ``events_per_session`` (activity events in
    the window per session started in it) and ``session_age_minutes`` (0 when no session
    is open); ``cart_abandonment`` (add_to_cart without a purchase within
    ``within_hours``); ``offer_fatigue`` (exposures since the last redeem, at most
    ``cap``); ``hour_of_day`` and ``day_of_week`` (Monday = 0) of the decision time in
    the spec's local time.

    Examples
    --------
    >>> Feature("purchases_30d", "count", "purchase", window_days=30).window_days
    30
    """

    name: str
    kind: str
    event_type: str | None = None
    window_days: float | None = None
    half_life_days: float | None = None
    category: str | None = None
    within_hours: float | None = None
    cap: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise FeatureError(f"feature name {self.name!r} must be a Python-style identifier")
        if self.name in RESERVED_NAMES:
            raise FeatureError(f"feature name {self.name!r} is reserved for a frame column")
        if self.kind not in KIND_PARAMS:
            raise FeatureError(
                f"feature {self.name!r}: unknown kind {self.kind!r}; known kinds: "
                f"{', '.join(KINDS)}"
            )
        needed = KIND_PARAMS[self.kind]
        for param in PARAMS:
            value = getattr(self, param)
            if param not in needed and value is not None:
                raise FeatureError(f"feature {self.name!r}: kind {self.kind!r} takes no {param}")
            if param in needed and value is None:
                raise FeatureError(f"feature {self.name!r}: kind {self.kind!r} needs {param}")
        self._check_values()

    def _check_values(self) -> None:
        if self.event_type is not None and self.event_type not in BEHAVIOUR_TYPES:
            raise FeatureError(
                f"feature {self.name!r}: event type {self.event_type!r} is not a behaviour "
                f"event; use one of {', '.join(BEHAVIOUR_TYPES)}"
            )
        for param in ("window_days", "half_life_days", "within_hours"):
            value = getattr(self, param)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FeatureError(
                    f"feature {self.name!r}: {param} must be a number, got {value!r}"
                )
            if not (math.isfinite(value) and value > 0):
                raise FeatureError(f"feature {self.name!r}: {param} must be > 0, got {value!r}")
        cap = self.cap
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise FeatureError(
                f"feature {self.name!r}: cap must be a whole number >= 1, got {cap!r}"
            )
        if self.category is not None and not (isinstance(self.category, str) and self.category):
            raise FeatureError(f"feature {self.name!r}: category must be a non-empty string")

    def to_dict(self) -> dict[str, Any]:
        """Return the feature as a JSON-safe dict (numbers as floats, for a stable hash)."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        for param in PARAMS:
            value = getattr(self, param)
            if param in ("window_days", "half_life_days", "within_hours") and value is not None:
                value = float(value)
            out[param] = value
        return out


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """An ordered tuple of features plus the settings both engines share.

    Window semantics (both engines, exact): as of time ``t`` an event at ``ts`` counts iff
    ``ts <= t`` and ``floor(ts/bucket) > floor(t/bucket) - window_days*86400/bucket``.
    Sessions end after ``session_gap_minutes`` idle. An event that arrives more than
    ``allowed_lateness_hours`` behind its user's newest event is too late: it is left out
    of every feature (a late consent revocation takes effect when it arrives instead).
    Hour and day of week are read in local time: in the IANA zone ``timezone`` (e.g.
    ``"Europe/Berlin"``, DST-aware) if set, else at the fixed ``utc_offset_hours``.

    Examples
    --------
    >>> spec = FeatureSpec((Feature("buys_7d", "count", "purchase", window_days=7),))
    >>> spec.names, len(spec.spec_hash())
    (('buys_7d',), 64)
    """

    features: tuple[Feature, ...]
    bucket_seconds: int = 3600
    recency_cap_days: float = 365.0
    session_gap_minutes: float = 30.0
    allowed_lateness_hours: float = 24.0
    utc_offset_hours: float = 0.0
    timezone: str | None = None
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
        _positive("recency_cap_days", self.recency_cap_days)
        _positive("session_gap_minutes", self.session_gap_minutes)
        _positive("allowed_lateness_hours", self.allowed_lateness_hours, zero_ok=True)
        offset = self.utc_offset_hours
        if isinstance(offset, bool) or not isinstance(offset, int | float) or abs(offset) > 14:
            raise FeatureError(f"utc_offset_hours must be within [-14, 14], got {offset!r}")
        if self.timezone is not None:
            load_zone(self.timezone)  # FeatureError for an unknown zone
            if offset != 0:
                raise FeatureError(
                    f"set timezone ({self.timezone!r}) or utc_offset_hours ({offset!r}), not "
                    "both: the zone's offset changes with DST; drop utc_offset_hours"
                )
        names = tuple(f.name for f in features)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise FeatureError(f"duplicate feature names: {', '.join(duplicates)}")
        for feature in features:
            if feature.window_days is not None:
                self.window_buckets(feature)  # raises when not a whole number of buckets
            if feature.within_hours is not None:
                self.buckets_of(feature.within_hours * 3600, f"feature {feature.name!r}: within")
        object.__setattr__(self, "names", names)

    def buckets_of(self, seconds: float, what: str) -> int:
        """Return ``seconds`` in buckets (a whole number, else FeatureError naming ``what``)."""
        buckets = seconds / self.bucket_seconds
        if buckets != int(buckets):
            raise FeatureError(
                f"{what} of {seconds:g} s is not a whole number of {self.bucket_seconds}-second "
                "buckets"
            )
        return int(buckets)

    def window_buckets(self, feature: Feature) -> int:
        """Return the window of ``feature`` in buckets (a whole number, else FeatureError)."""
        if feature.window_days is None:
            raise FeatureError(f"feature {feature.name!r} has no window")
        return self.buckets_of(
            feature.window_days * DAY_SECONDS, f"feature {feature.name!r}: window"
        )

    @property
    def ttl_seconds(self) -> float:
        """Inactivity after which every feature of a user is at its default (eviction is
        invisible): the longest window or the recency cap, plus one bucket."""
        windows = [f.window_days for f in self.features if f.window_days is not None]
        longest = max([self.recency_cap_days, *windows]) * DAY_SECONDS
        return float(longest + self.bucket_seconds)

    def to_dict(self) -> dict[str, Any]:
        """Return the spec as a JSON-safe dict; ``FeatureSpec.from_dict`` reverses it.

        ``timezone`` appears only when set, so a spec without one keeps the dict (and the
        hash in every bundle built for it) it had before time zones existed."""
        out: dict[str, Any] = {
            "bucket_seconds": self.bucket_seconds,
            "recency_cap_days": float(self.recency_cap_days),
            "session_gap_minutes": float(self.session_gap_minutes),
            "allowed_lateness_hours": float(self.allowed_lateness_hours),
            "utc_offset_hours": float(self.utc_offset_hours),
            "features": [f.to_dict() for f in self.features],
        }
        if self.timezone is not None:
            out["timezone"] = self.timezone
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Build a spec from ``to_dict`` output; ``FeatureError`` on bad input."""
        try:
            features = tuple(Feature(**f) for f in data["features"])
            settings = {k: data[k] for k in _SETTINGS if k in data}
            return cls(features, int(data["bucket_seconds"]), **settings)
        except (KeyError, TypeError, ValueError) as exc:
            raise FeatureError(f"not a feature spec: {exc}") from exc

    def spec_hash(self) -> str:
        """Return the sha256 hex of the canonical JSON of the spec."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_SETTINGS = (
    "recency_cap_days",
    "session_gap_minutes",
    "allowed_lateness_hours",
    "utc_offset_hours",
    "timezone",
)


def _positive(name: str, value: object, zero_ok: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):  # type: ignore[operator]
        bound = ">= 0" if zero_ok else "> 0"
        raise FeatureError(f"{name} must be a finite number {bound}, got {value!r}")
