"""Online state: persistence (JSON and SQLite), restarts, eviction, forgetting, bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from edgemark.errors import FeatureError
from edgemark.features import (
    DEFAULT_SPEC,
    Feature,
    FeatureSpec,
    FeatureStore,
    OnlineFeatures,
)
from tests.features.reference import DAY, T0, Ev, random_stream


def _feed(online: OnlineFeatures, events: list[Ev]) -> None:
    for e in events:
        online.update(e.user, e.type, e.ts, e.amount, e.category, personalization=e.personalization)


def _history(seed: int = 1) -> list[Ev]:
    return random_stream(random.Random(seed), n=3000, users=30, days=60, consent_rate=0.01)


def test_hand_computed_values() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("u", "purchase", T0 - 60 * DAY, 100.0, "home")
    online.update("u", "purchase", T0 - 10 * DAY, 20.0, "home")
    online.update("u", "add_to_cart", T0 - 8 * DAY)
    online.update("u", "view", T0 - 3 * DAY, category="home")
    online.update("u", "view", T0 - 3 * DAY + 60, category="beauty")
    online.update("u", "view", T0 - 9 * DAY, category="home")  # too late: dropped

    v = dict(zip(DEFAULT_SPEC.names, online.vector("u", T0).tolist(), strict=True))

    assert (v["recency_purchase_days"], v["recency_view_days"]) == (10.0, 3.0 - 60 / DAY)
    assert (v["purchases_7d"], v["purchases_30d"], v["purchases_90d"]) == (0.0, 1.0, 2.0)
    assert (v["spend_30d"], v["spend_90d"], v["avg_basket_90d"]) == (20.0, 120.0, 60.0)
    assert (v["views_7d"], v["carts_7d"], v["sessions_30d"]) == (2.0, 0.0, 3.0)
    assert v["events_per_session_30d"] == 4 / 3
    assert v["view_decay_3d"] == pytest.approx(0.5 + 2 ** (-(3 * DAY - 60) / (3 * DAY)))
    assert (v["affinity_home_90d"], v["affinity_beauty_90d"]) == (0.5, 0.5)
    assert v["distinct_categories_30d"] == 2.0
    assert v["cart_abandonment_30d"] == 1.0  # the cart 8 days ago: no purchase within 24 h
    assert (v["hour_of_day"], v["day_of_week"], v["session_age_minutes"]) == (0.0, 0.0, 0.0)


def test_state_round_trips_through_json_and_continues_equal() -> None:
    events = _history()
    online = OnlineFeatures(DEFAULT_SPEC)
    _feed(online, events[:2000])
    other = OnlineFeatures(DEFAULT_SPEC)
    for user in online.users():
        other.load_state(user, json.loads(json.dumps(online.state_of(user))))

    _feed(online, events[2000:])
    _feed(other, events[2000:])

    t = events[-1].ts + 3600
    for user in online.users():
        np.testing.assert_array_equal(other.vector(user, t), online.vector(user, t))


def test_sqlite_store_survives_a_restart(tmp_path: Path) -> None:
    events = _history(2)
    online = OnlineFeatures(DEFAULT_SPEC)
    _feed(online, events[:2500])
    with FeatureStore(tmp_path / "features.db", DEFAULT_SPEC) as store:
        assert store.save(online) == len(online)
    restarted = OnlineFeatures(DEFAULT_SPEC)
    with FeatureStore(tmp_path / "features.db", DEFAULT_SPEC) as store:
        assert store.load_into(restarted) == len(online)
        assert 0 < store.bytes_per_user() < 20_000

    _feed(online, events[2500:])
    _feed(restarted, events[2500:])

    for t in (events[2499].ts, events[-1].ts + 1, events[-1].ts + 40 * DAY):
        for user in online.users():
            np.testing.assert_array_equal(restarted.vector(user, t), online.vector(user, t))


def test_store_refuses_another_spec_and_removes_users(tmp_path: Path) -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("a", "view", T0)
    online.update("b", "view", T0)
    with FeatureStore(tmp_path / "f.db", DEFAULT_SPEC) as store:
        store.save(online)
        assert store.remove(["a", "zz"]) == 1
        assert store.users() == ["b"]
    other = FeatureSpec((Feature("v", "count", "view", window_days=1),))

    with pytest.raises(FeatureError, match="holds feature state of spec"):
        FeatureStore(tmp_path / "f.db", other)


def test_eviction_of_inactive_users_changes_no_vector(tmp_path: Path) -> None:
    spec = FeatureSpec(
        (
            Feature("views_2d", "count", "view", window_days=2),
            Feature("recency", "recency_days", "view"),
            Feature("decay", "decayed_count", "view", window_days=2, half_life_days=1),
        ),
        recency_cap_days=3.0,
    )
    online = OnlineFeatures(spec)
    online.update("old", "view", T0)
    online.update("revoked", "view", T0)
    online.update("revoked", "consent", T0 + 1, personalization=False)
    online.update("new", "view", T0 + 3 * DAY + 7200)
    now = T0 + 3 * DAY + 3601  # 3 days + 1 bucket after the old user's last event
    before = {u: online.vector(u, now).tolist() for u in ("old", "revoked", "new")}
    with FeatureStore(tmp_path / "f.db", spec) as store:
        store.save(online)

        gone = store.evict_inactive(online, now)

        assert gone == ["old"] and store.users() == ["new", "revoked"]
    assert "old" not in online and "revoked" in online  # the revocation is remembered
    assert {u: online.vector(u, now).tolist() for u in before} == before
    online.update("revoked", "view", now + 10)
    assert online.vector("revoked", now + 20)[0] == 0.0


def test_forget_erases_the_user() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("u", "view", T0)

    online.forget("u")
    online.forget("never-seen")

    assert "u" not in online and len(online) == 0
    assert online.vector("u", T0).tolist() == online.vector("nobody", T0).tolist()


def test_state_of_another_spec_or_malformed_is_refused() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("u", "purchase", T0, 3.0)
    state = online.state_of("u")
    other = OnlineFeatures(FeatureSpec(DEFAULT_SPEC.features, recency_cap_days=30.0))

    with pytest.raises(FeatureError, match="another feature spec"):
        other.load_state("u", state)
    state["rows"] = [[1, 2]]
    with pytest.raises(FeatureError, match="malformed"):
        online.load_state("u", state)


def test_bad_input_is_rejected() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)

    with pytest.raises(FeatureError, match="ts must be finite"):
        online.update("u", "view", float("nan"))
    with pytest.raises(FeatureError, match="amount must be finite"):
        online.update("u", "purchase", T0, amount=float("inf"))
    with pytest.raises(FeatureError, match="unknown event type"):
        online.update("u", "like", T0)


def test_update_event_reads_category_and_consent() -> None:
    from edgemark.events import Event

    online = OnlineFeatures(DEFAULT_SPEC)
    online.update_event(Event("e1", T0, "raw", "view", "s", category="home",
                              consent_personalization=True), user="u_1")  # fmt: skip
    online.update_event(Event("e2", T0, "raw", "view", "s", category="home"), user="u_1")

    v = dict(zip(DEFAULT_SPEC.names, online.vector("u_1", T0).tolist(), strict=True))
    assert (v["views_7d"], v["affinity_home_90d"]) == (1.0, 1.0)
    assert online.users() == ["u_1"]
