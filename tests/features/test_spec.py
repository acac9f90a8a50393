from __future__ import annotations

import hashlib
import json

import pytest

from edgemark.errors import FeatureError
from edgemark.features import (
    DEFAULT_SPEC,
    KINDS,
    Feature,
    FeatureSpec,
    marketing_library,
)


def test_default_spec_is_the_full_library() -> None:
    kinds = {f.kind for f in DEFAULT_SPEC.features}

    assert kinds == set(KINDS)
    assert DEFAULT_SPEC.names[:4] == (
        "recency_purchase_days", "recency_view_days", "purchases_7d", "purchases_30d",
    )  # fmt: skip
    assert {"spend_7d", "spend_30d", "spend_90d", "affinity_grocery_90d"} <= set(DEFAULT_SPEC.names)
    assert (DEFAULT_SPEC.bucket_seconds, DEFAULT_SPEC.recency_cap_days) == (3600, 365.0)
    assert DEFAULT_SPEC.ttl_seconds == 365 * 86400 + 3600


def test_library_for_a_shops_categories() -> None:
    spec = marketing_library(["Home & Garden", "9 lives"], windows_days=(14, 60))

    names = spec.names
    assert "affinity_home_garden_60d" in names and "affinity_c_9_lives_60d" in names
    assert {"purchases_14d", "spend_60d", "avg_basket_60d"} <= set(names)


def test_spec_hash_is_sha256_of_canonical_json() -> None:
    canonical = json.dumps(DEFAULT_SPEC.to_dict(), sort_keys=True, separators=(",", ":"))

    assert DEFAULT_SPEC.spec_hash() == hashlib.sha256(canonical.encode()).hexdigest()


def test_spec_hash_ignores_int_float_spelling_but_not_meaning() -> None:
    a = FeatureSpec((Feature("c", "count", "view", window_days=7),))
    b = FeatureSpec((Feature("c", "count", "view", window_days=7.0),))
    c = FeatureSpec((Feature("c", "count", "view", window_days=8),))

    assert a.spec_hash() == b.spec_hash() != c.spec_hash()
    assert a.spec_hash() != FeatureSpec(a.features, bucket_seconds=1800).spec_hash()
    assert a.spec_hash() != FeatureSpec(a.features, allowed_lateness_hours=1).spec_hash()
    assert a.spec_hash() != FeatureSpec(a.features, session_gap_minutes=20).spec_hash()


def test_spec_round_trips_through_dict() -> None:
    spec = FeatureSpec(DEFAULT_SPEC.features, utc_offset_hours=5.5, allowed_lateness_hours=0)
    again = FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict())))

    assert again == spec and again.spec_hash() == spec.spec_hash()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"kind": "median"}, "unknown kind 'median'"),
        ({"event_type": "like"}, "not a behaviour event"),
        ({"event_type": "consent"}, "not a behaviour event"),
        ({"kind": "count"}, "needs window_days"),
        ({"kind": "sum_amount", "window_days": 0}, "window_days must be > 0"),
        ({"kind": "decayed_count", "window_days": 7}, "needs half_life_days"),
        ({"kind": "decayed_count", "window_days": 7, "half_life_days": -1.0}, "must be > 0"),
        ({"kind": "recency_days", "window_days": 3}, "takes no window_days"),
        ({"kind": "hour_of_day"}, "takes no event_type"),
        ({"kind": "distinct_categories", "window_days": 7, "cap": 0}, "cap must be"),
        ({"kind": "category_share", "window_days": 7, "category": ""}, "non-empty"),
        ({"name": "not a name"}, "identifier"),
        ({"name": "label"}, "reserved"),
    ],
)
def test_invalid_features_are_rejected(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {"name": "f", "kind": "recency_days", "event_type": "view"}
    args.update(kwargs)

    with pytest.raises(FeatureError, match=reason):
        Feature(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"features": ()}, "at least one feature"),
        ({"bucket_seconds": 0}, "bucket_seconds"),
        ({"recency_cap_days": 0.0}, "recency_cap_days"),
        ({"allowed_lateness_hours": -1}, "allowed_lateness_hours"),
        ({"session_gap_minutes": float("inf")}, "session_gap_minutes"),
        ({"utc_offset_hours": 20}, "utc_offset_hours"),
        ({"features": (Feature("c", "count", "view", window_days=0.01),)}, "not a whole number"),
        (
            {"features": (Feature("a", "cart_abandonment", window_days=1, within_hours=0.25),)},
            "within",
        ),
    ],
)
def test_invalid_specs_are_rejected(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {"features": (Feature("f", "recency_days", "view"),)}
    args.update(kwargs)

    with pytest.raises(FeatureError, match=reason):
        FeatureSpec(**args)  # type: ignore[arg-type]


def test_duplicate_names_are_rejected() -> None:
    f = Feature("f", "recency_days", "view")

    with pytest.raises(FeatureError, match="duplicate feature names: f"):
        FeatureSpec((f, f))


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(FeatureError, match="not a feature spec"):
        FeatureSpec.from_dict({"features": [{"nope": 1}]})


# Bundles in the field carry this hash: adding settings must not change a spec without them.
DEFAULT_SPEC_HASH = "cf832847bf56700c7dfd829686b7c8bc95f41283e89aa1b1c7de9894b37de714"


def test_default_spec_hash_is_unchanged_by_time_zones() -> None:
    offset = FeatureSpec(DEFAULT_SPEC.features, utc_offset_hours=5.5)

    assert DEFAULT_SPEC.spec_hash() == DEFAULT_SPEC_HASH
    assert "timezone" not in DEFAULT_SPEC.to_dict()
    assert offset.spec_hash() == "a2f0a331b67b38c9d1755e36dcc4361f4633a1f1ecea235013cf2fdaf60840de"


def test_a_zoned_spec_round_trips_and_hashes_its_zone() -> None:
    berlin = FeatureSpec(DEFAULT_SPEC.features, timezone="Europe/Berlin")
    again = FeatureSpec.from_dict(json.loads(json.dumps(berlin.to_dict())))
    york = FeatureSpec(DEFAULT_SPEC.features, timezone="America/New_York")

    assert again == berlin and again.timezone == "Europe/Berlin"
    assert len({berlin.spec_hash(), york.spec_hash(), DEFAULT_SPEC.spec_hash()}) == 3
    assert again.spec_hash() == berlin.spec_hash()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"timezone": "Europe/Berlin", "utc_offset_hours": 1.0}, "not both"),
        ({"timezone": "Europe/Berlinn"}, "unknown time zone 'Europe/Berlinn'"),
        ({"timezone": "europe/berlin"}, "unknown time zone"),
        ({"timezone": "../etc/passwd"}, "unknown time zone"),
        ({"timezone": ""}, "IANA zone name"),
        ({"timezone": 1}, "IANA zone name"),
        ({"timezone": "localtime"}, "machine's own zone"),
    ],
)
def test_bad_time_zones_are_rejected(kwargs: dict[str, object], reason: str) -> None:
    with pytest.raises(FeatureError, match=reason):
        FeatureSpec(DEFAULT_SPEC.features, **kwargs)  # type: ignore[arg-type]


def test_no_zone_database_names_tzdata(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import zoneinfo

    for name in ["tzdata", *(m for m in sys.modules if m.startswith("tzdata."))]:
        monkeypatch.setitem(sys.modules, name, None)  # not installed
    zoneinfo.reset_tzpath(to=[])
    try:
        zoneinfo.ZoneInfo.clear_cache(only_keys=["Pacific/Chatham"])
        with pytest.raises(FeatureError, match=r"no time zone database.*tzdata"):
            FeatureSpec(DEFAULT_SPEC.features, timezone="Pacific/Chatham")
    finally:
        zoneinfo.reset_tzpath()
