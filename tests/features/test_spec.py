from __future__ import annotations

import json

import pytest

from edgemark.errors import FeatureError
from edgemark.features import DEFAULT_SPEC, Feature, FeatureSpec


def test_default_spec_names_follow_the_contract() -> None:
    assert DEFAULT_SPEC.names == (
        "recency_purchase_days", "purchases_30d", "purchases_90d", "spend_30d", "spend_90d",
        "views_7d", "carts_7d", "view_intensity",
    )  # fmt: skip
    assert DEFAULT_SPEC.bucket_seconds == 3600
    assert DEFAULT_SPEC.recency_cap_days == 365.0


def test_spec_hash_is_sha256_of_canonical_json() -> None:
    import hashlib

    canonical = json.dumps(DEFAULT_SPEC.to_dict(), sort_keys=True, separators=(",", ":"))

    assert DEFAULT_SPEC.spec_hash() == hashlib.sha256(canonical.encode()).hexdigest()


def test_spec_hash_ignores_int_float_spelling_but_not_meaning() -> None:
    a = FeatureSpec((Feature("c", "count", "view", window_days=7),))
    b = FeatureSpec((Feature("c", "count", "view", window_days=7.0),))
    c = FeatureSpec((Feature("c", "count", "view", window_days=8),))

    assert a.spec_hash() == b.spec_hash() != c.spec_hash()
    assert a.spec_hash() != FeatureSpec(a.features, bucket_seconds=1800).spec_hash()


def test_spec_round_trips_through_dict() -> None:
    again = FeatureSpec.from_dict(json.loads(json.dumps(DEFAULT_SPEC.to_dict())))

    assert again == DEFAULT_SPEC
    assert again.spec_hash() == DEFAULT_SPEC.spec_hash()


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"kind": "mean"}, "unknown kind 'mean'"),
        ({"event_type": "like"}, "unknown event type 'like'"),
        ({"kind": "count"}, "needs window_days"),
        ({"kind": "sum_amount", "window_days": 0}, "window_days must be > 0"),
        ({"kind": "decayed_count"}, "needs half_life_days"),
        ({"kind": "decayed_count", "half_life_days": -1.0}, "half_life_days must be > 0"),
        ({"kind": "recency_days", "window_days": 3}, "takes no window_days"),
        ({"name": "not a name"}, "identifier"),
        ({"name": "label"}, "reserved"),
    ],
)
def test_invalid_features_are_rejected(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {"name": "f", "kind": "recency_days", "event_type": "view"}
    args.update(kwargs)

    with pytest.raises(FeatureError, match=reason):
        Feature(**args)  # type: ignore[arg-type]


def test_duplicate_names_are_rejected() -> None:
    f = Feature("f", "recency_days", "view")

    with pytest.raises(FeatureError, match="duplicate feature names: f"):
        FeatureSpec((f, f))


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"features": ()}, "at least one feature"),
        ({"bucket_seconds": 0}, "bucket_seconds"),
        ({"recency_cap_days": 0.0}, "recency_cap_days"),
        (
            {"features": (Feature("c", "count", "view", window_days=0.01),)},
            "not a whole number",
        ),
    ],
)
def test_invalid_specs_are_rejected(kwargs: dict[str, object], reason: str) -> None:
    args: dict[str, object] = {"features": (Feature("f", "recency_days", "view"),)}
    args.update(kwargs)

    with pytest.raises(FeatureError, match=reason):
        FeatureSpec(**args)  # type: ignore[arg-type]


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(FeatureError, match="not a feature spec"):
        FeatureSpec.from_dict({"features": [{"nope": 1}]})
