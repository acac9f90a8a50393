from __future__ import annotations

import json

import numpy as np
import pytest

from edgemark.errors import FeatureError
from edgemark.features import DEFAULT_SPEC, Feature, FeatureSpec, OnlineFeatures

DAY = 86400.0
T0 = 1767571200.0  # 2026-01-05 00:00 UTC, a bucket boundary


def _filled() -> OnlineFeatures:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("u", "purchase", T0 - 60 * DAY, amount=100.0)
    online.update("u", "purchase", T0 - 10 * DAY, amount=20.0)
    online.update("u", "view", T0 - 3 * DAY)
    online.update("u", "view", T0 - 3 * DAY)
    online.update("u", "add_to_cart", T0 - 8 * DAY)
    online.update("u", "consent", T0 - 1.0)
    return online


def test_vector_matches_hand_computed_values() -> None:
    vector = _filled().vector("u", T0)

    expected = [10.0, 1.0, 2.0, 20.0, 120.0, 2.0, 0.0, 1.0]  # two views one half-life ago
    assert vector.dtype == np.float64
    np.testing.assert_allclose(vector, expected, rtol=0, atol=1e-12)


def test_unknown_user_gets_defaults_with_recency_cap() -> None:
    vector = OnlineFeatures(DEFAULT_SPEC).vector("nobody", T0)

    assert vector.tolist() == [365.0, 0, 0, 0, 0, 0, 0, 0]


def test_recency_is_capped() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("u", "purchase", T0 - 400 * DAY, amount=1.0)

    assert online.vector("u", T0)[0] == 365.0


def test_window_edge_is_bucketed() -> None:
    spec = FeatureSpec((Feature("v", "count", "view", window_days=1),))
    online = OnlineFeatures(spec)
    online.update("u", "view", T0 - DAY)  # bucket floor(t/b) - 24: just outside
    online.update("u", "view", T0 - DAY + 3600)  # first bucket inside
    online.update("u", "view", T0 - DAY + 3599)  # same bucket as T0 - DAY: outside

    assert online.vector("u", T0)[0] == 1.0
    assert online.vector("u", T0 + 3599)[0] == 1.0
    assert online.vector("u", T0 + 3600)[0] == 0.0


def test_events_later_than_t_are_left_out_of_windows() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("u", "view", T0 + 2 * 3600)

    assert online.vector("u", T0)[5] == 0.0
    assert online.vector("u", T0 + 2 * 3600)[5] == 1.0


def test_old_buckets_are_evicted() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    for day in range(200):
        online.update("u", "purchase", T0 + day * DAY, amount=1.0)
        online.update("u", "view", T0 + day * DAY)

    state = online.state_of("u")
    assert len(state["buckets"]["purchase"]) == 90
    assert len(state["buckets"]["view"]) == 7


def test_vector_into_fills_float32_and_float64_buffers() -> None:
    online = _filled()
    out32 = np.zeros(8, dtype=np.float32)
    out64 = np.zeros(8, dtype=np.float64)

    assert online.vector_into("u", T0, out32) is out32
    online.vector_into("u", T0, out64)
    np.testing.assert_array_equal(out64, online.vector("u", T0))
    np.testing.assert_allclose(out32, out64, rtol=1e-6)


def test_state_round_trips_through_json() -> None:
    online = _filled()
    state = json.loads(json.dumps(online.state_of("u")))
    other = OnlineFeatures(DEFAULT_SPEC)

    other.load_state("u", state)

    np.testing.assert_array_equal(other.vector("u", T0), online.vector("u", T0))
    other.update("u", "purchase", T0, amount=5.0)
    online.update("u", "purchase", T0, amount=5.0)
    np.testing.assert_array_equal(other.vector("u", T0 + 1), online.vector("u", T0 + 1))


def test_state_of_another_spec_is_refused() -> None:
    state = _filled().state_of("u")
    other = OnlineFeatures(FeatureSpec(DEFAULT_SPEC.features, recency_cap_days=30.0))

    with pytest.raises(FeatureError, match="another feature spec"):
        other.load_state("u", state)


def test_malformed_state_is_refused() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    state = online.state_of("u")
    state["buckets"] = {"view": [[1, 2]]}

    with pytest.raises(FeatureError, match="malformed"):
        online.load_state("u", state)


def test_forget_erases_the_user() -> None:
    online = _filled()

    online.forget("u")
    online.forget("never-seen")

    assert "u" not in online and len(online) == 0
    assert online.vector("u", T0).tolist() == online.vector("nobody", T0).tolist()


def test_non_finite_input_is_rejected() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)

    with pytest.raises(FeatureError, match="ts must be finite"):
        online.update("u", "view", float("nan"))
    with pytest.raises(FeatureError, match="amount must be finite"):
        online.update("u", "purchase", T0, amount=float("inf"))


def test_irrelevant_event_types_create_no_state() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)

    online.update("u", "consent", T0)

    assert len(online) == 0


def test_count_only_spec_still_returns_float64() -> None:
    online = OnlineFeatures(FeatureSpec((Feature("v", "count", "view", window_days=1),)))
    online.update("u", "view", T0)

    vector = online.vector("u", T0)

    assert vector.dtype == np.float64 and vector.tolist() == [1.0]
