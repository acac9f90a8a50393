"""The online engine against the reference semantics, including late events and consent."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from edgemark.features import DEFAULT_SPEC, Feature, FeatureSpec, OnlineFeatures
from tests.features.reference import DAY, T0, Ev, arrive, random_stream, reference_vector

EDGY_SPEC = FeatureSpec(
    (
        Feature("recency_view", "recency_days", "view"),
        Feature("views_1d", "count", "view", window_days=1),
        Feature("views_2d", "count", "view", window_days=2),
        Feature("spend_2d", "sum_amount", "purchase", window_days=2),
        Feature("basket_2d", "mean_amount", "purchase", window_days=2),
        Feature("decayed_buys", "decayed_count", "purchase", window_days=2, half_life_days=0.5),
        Feature("cats_1d", "distinct_categories", "view", window_days=1, cap=2),
        Feature("home_share", "category_share", "view", window_days=2, category="home"),
        Feature("sessions_1d", "session_count", window_days=1),
        Feature("per_session_2d", "events_per_session", window_days=2),
        Feature("session_age", "session_age_minutes"),
        Feature("abandoned_2d", "cart_abandonment", window_days=2, within_hours=0.5),
        Feature("fatigue_1d", "offer_fatigue", window_days=1, cap=3),
        Feature("hour", "hour_of_day"),
        Feature("weekday", "day_of_week"),
        Feature("recency_cart", "recency_days", "add_to_cart"),
    ),
    bucket_seconds=900,
    recency_cap_days=3.0,
    allowed_lateness_hours=2.0,
    utc_offset_hours=-5.0,
)


def _check(spec: FeatureSpec, events: list[Ev], cuts: list[float], seed: int) -> int:
    """Feed events arriving shuffled between cuts; compare at every cut; return #checks."""
    rng = random.Random(seed)
    arrival = arrive(rng, events, cuts)
    online = OnlineFeatures(spec)
    users = sorted({e.user for e in events} | {"never-seen"})
    fed: list[Ev] = []
    checks = 0
    pending = list(arrival)
    for t in sorted(set(cuts)):
        while pending and pending[0].ts <= t:
            e = pending.pop(0)
            online.update(e.user, e.type, e.ts, e.amount, e.category,
                          personalization=e.personalization)  # fmt: skip
            fed.append(e)
        for user in users:
            want = reference_vector(spec, fed, user, t)
            got = online.vector(user, t).tolist()
            assert got == pytest.approx(want, abs=1e-9), (user, t)
            checks += 1
    return checks


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_edgy_spec_matches_the_reference(seed: int) -> None:
    rng = random.Random(seed)
    events = random_stream(rng, n=700, users=6, days=5, bucket=900)
    cuts = [T0 + rng.uniform(0, 5.5 * DAY) for _ in range(25)]
    cuts += [T0 + k * 3 * 3600.0 for k in range(0, 44)]  # bucket edges, shuffle spans of 3 h

    assert _check(EDGY_SPEC, events, cuts, seed) > 400


def test_default_spec_matches_the_reference() -> None:
    rng = random.Random(7)
    events = random_stream(rng, n=1200, users=12, days=100, consent_rate=0.01)
    cuts = [T0 + rng.uniform(0, 100 * DAY) for _ in range(30)]

    assert _check(DEFAULT_SPEC, events, cuts, seed=7) > 300


def test_late_event_beyond_lateness_is_dropped_and_within_is_kept() -> None:
    spec = FeatureSpec((Feature("views_2d", "count", "view", window_days=2),),
                       allowed_lateness_hours=1.0)  # fmt: skip
    online = OnlineFeatures(spec)
    online.update("u", "view", T0 + 7200)
    online.update("u", "view", T0 + 3600)  # exactly one hour late: kept
    online.update("u", "view", T0 + 3599)  # a second more: dropped

    assert online.vector("u", T0 + 7200)[0] == 2.0


def test_revocation_drops_history_and_a_late_one_acts_on_arrival() -> None:
    spec = FeatureSpec((Feature("views_2d", "count", "view", window_days=2),))
    online = OnlineFeatures(spec)
    for k in range(3):
        online.update("u", "view", T0 + k * 600)
    online.update("u", "consent", T0 + 300, personalization=False)  # late revocation
    online.update("u", "view", T0 + 1000)  # after it, but revoked: nothing counts
    revoked = online.vector("u", T0 + 1500)[0]
    online.update("u", "consent", T0 + 2000, personalization=True)
    online.update("u", "view", T0 + 2500)

    assert revoked == 0.0
    # The revocation arrived when the newest event was at 1200, so it cut there: the view
    # at 1000 stays dropped, the views after the grant count.
    assert online.vector("u", T0 + 3000)[0] == 1.0


def test_events_without_personalization_consent_are_ignored() -> None:
    spec = FeatureSpec((Feature("views_2d", "count", "view", window_days=2),))
    online = OnlineFeatures(spec)
    online.update("u", "view", T0, personalization=False)
    online.update("u", "view", T0 + 1)

    assert online.vector("u", T0 + 2)[0] == 1.0


def test_context_features_need_no_state() -> None:
    online = OnlineFeatures(EDGY_SPEC)
    t = T0 + 2 * DAY + 3 * 3600 + 5  # Wednesday 03:00 UTC is Tuesday 22:00 at UTC-5

    vector = online.vector("nobody", t)

    assert (vector[-3], vector[-2]) == (22.0, 1.0)
    assert vector[0] == 3.0 and vector[-1] == 3.0  # recency caps


def test_state_stays_bounded_for_a_busy_user() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    for k in range(24 * 200):  # an event every hour for 200 days
        ts = T0 + k * 3600.0
        online.update("bot", "view", ts, category=f"c{k % 40}")
        online.update("bot", "exposure", ts + 1)
        online.update("bot", "add_to_cart", ts + 2)

    state = online.state_of("bot")
    assert len(state["rows"]) <= 90 * 24
    assert len(state["cats"]["view"]) == 16 and len(state["exposures"]) <= 50
    assert len(state["sessions"]) == 0 or len(state["sessions"]) <= 26  # 24 h + gap of open
    assert sum(len(c) for c in state["carts"].values()) <= 2 * 26


def test_decayed_value_is_the_closed_form_regardless_of_order() -> None:
    online = OnlineFeatures(EDGY_SPEC)
    stamps = [T0 + 5000.0, T0, T0 + 7000.0, T0 + 12.5]  # all within the lateness
    for ts in stamps:
        online.update("u", "purchase", ts, 1.0)
    t = T0 + 1.5 * DAY
    value = online.vector("u", t)[EDGY_SPEC.names.index("decayed_buys")]

    expected = math.fsum(2 ** (-(t - ts) / (0.5 * DAY)) for ts in stamps)
    assert abs(value - expected) <= 1e-12


def test_vector_into_fills_float32_and_float64_buffers() -> None:
    online = OnlineFeatures(DEFAULT_SPEC)
    online.update("u", "purchase", T0, 20.0, "home")
    online.update("u", "view", T0 + 60, category="home")
    n = len(DEFAULT_SPEC.names)
    out32, out64 = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float64)

    assert online.vector_into("u", T0 + 120, out32) is out32
    online.vector_into("u", T0 + 120, out64)
    np.testing.assert_array_equal(out64, online.vector("u", T0 + 120))
    np.testing.assert_allclose(out32, out64, rtol=1e-6)
