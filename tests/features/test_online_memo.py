"""The reader's per-bucket memo: reads inside one bucket, before and after events, equal the
reference (and a fresh engine that never memoised anything)."""

from __future__ import annotations

import random

import pytest

from edgemark.features import DEFAULT_SPEC, Feature, FeatureSpec, OnlineFeatures
from tests.features.reference import DAY, T0, arrive, random_stream, reference_vector
from tests.features.test_online_reference import EDGY_SPEC

# No session feature and nothing counted per bucket: exposures and categories leave their
# windows while the bucket rows stay the same, so the counts must move on their own.
SIDE_SPEC = FeatureSpec(
    (
        Feature("fatigue_1d", "offer_fatigue", window_days=1, cap=3),
        Feature("cats_1d", "distinct_categories", "view", window_days=1, cap=2),
        Feature("buys_2d", "count", "purchase", window_days=2),
    )
)


@pytest.mark.parametrize(("spec", "bucket"), [(DEFAULT_SPEC, 3600), (EDGY_SPEC, 900)])
def test_reads_inside_a_bucket_match_the_reference(spec: object, bucket: int) -> None:
    rng = random.Random(21)
    events = random_stream(rng, n=900, users=6, days=4, bucket=bucket, consent_rate=0.02)
    # Cuts come in clusters inside one bucket, so the memo serves most reads.
    cuts = sorted(T0 + rng.uniform(0, 4.2 * DAY) for _ in range(12))
    cuts = sorted({c + k * bucket / 7 for c in cuts for k in range(3)})
    pending = list(arrive(rng, events, cuts))
    online = OnlineFeatures(spec)  # type: ignore[arg-type]
    fed = []
    hits = 0
    for t in cuts:
        while pending and pending[0].ts <= t:
            e = pending.pop(0)
            online.update(e.user, e.type, e.ts, e.amount, e.category,
                          personalization=e.personalization)  # fmt: skip
            fed.append(e)
        for user in sorted({e.user for e in events}):
            state = online._users.get(user)
            hits += (
                state is not None and state.memo is not None and state.memo.cur == int(t // bucket)
            )
            want = reference_vector(spec, fed, user, t)  # type: ignore[arg-type]
            assert online.values(user, t) == pytest.approx(want, abs=1e-9), (user, t)
            twice = online.values(user, t + bucket / 50)  # the memo of this very read
            fresh = OnlineFeatures(spec)  # type: ignore[arg-type]
            if state is not None:
                fresh.load_state(user, online.state_of(user))
            assert twice == pytest.approx(fresh.values(user, t + bucket / 50), rel=1e-12)
    assert hits > 20  # the memo was really used


@pytest.mark.parametrize(
    ("spec", "bucket"), [(DEFAULT_SPEC, 3600), (EDGY_SPEC, 900), (SIDE_SPEC, 3600)]
)
def test_reads_across_buckets_without_events_match_the_reference(spec: object, bucket: int) -> None:
    """Hour after hour with no new event: rows leave the windows one by one while the memo
    carries sums, decayed sums and counts from bucket to bucket."""
    rng = random.Random(22)
    events = random_stream(rng, n=500, users=4, days=3, bucket=bucket, consent_rate=0.0)
    online = OnlineFeatures(spec)  # type: ignore[arg-type]
    for e in events:
        online.update(e.user, e.type, e.ts, e.amount, e.category,
                      personalization=e.personalization)  # fmt: skip
    end = max(e.ts for e in events)
    users = sorted({e.user for e in events})
    reused = 0
    for step in range(0, 2 * 24 * 3600 // bucket * 2, 3):  # two days on, in 3-bucket steps
        t = end + step * bucket / 2 + 1.0
        for user in users:
            before = online._users[user].memo
            got = online.values(user, t)
            reused += before is not None and online._users[user].memo.sums is before.sums
            want = reference_vector(spec, events, user, t)  # type: ignore[arg-type]
            assert got == pytest.approx(want, abs=1e-9), (user, t)
    assert reused > 10  # the memo really carried over


def test_prepare_computes_ahead_and_changes_no_value() -> None:
    rng = random.Random(23)
    events = random_stream(rng, n=400, users=5, days=3, consent_rate=0.02)
    warmed, plain = OnlineFeatures(DEFAULT_SPEC), OnlineFeatures(DEFAULT_SPEC)
    for engine in (warmed, plain):
        for e in events:
            engine.update(e.user, e.type, e.ts, e.amount, e.category,
                          personalization=e.personalization)  # fmt: skip
    end = max(e.ts for e in events)
    for user in warmed.users():
        warmed.prepare(user, end)
        assert warmed._users[user].memo is not None or not warmed._users[user].consent_granted
    for t in (end - 1800.0, end, end + 1.0, end + 5 * 3600.0, end + 40 * DAY):
        for user in sorted({e.user for e in events}):
            assert warmed.values(user, t) == plain.values(user, t), (user, t)
    warmed.prepare("nobody", end)  # unknown users are ignored
