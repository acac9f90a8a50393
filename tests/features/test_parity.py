"""The central invariant: online vector(user, t) equals the batch row at t (within 1e-9).

Events arrive out of order (shuffled between query times, so some arrive later than the
allowed lateness and are dropped by both engines), carry consent flags, and include consent
revocations and grants. Both engines also agree with the reference semantics.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgemark.events import Event, EventLog
from edgemark.features import (
    DEFAULT_SPEC,
    Feature,
    FeatureSpec,
    OnlineFeatures,
    feature_vectors_at,
)
from tests.features.reference import (
    CATEGORIES,
    DAY,
    T0,
    TYPES,
    Ev,
    arrive,
    random_stream,
    reference_vector,
)
from tests.features.test_online_reference import EDGY_SPEC


def table_of(events: Sequence[Ev]) -> pa.Table:
    """The events as an Arrow table in the given (arrival) order."""
    return pa.table(
        {
            "user": [e.user for e in events],
            "type": [e.type for e in events],
            "ts": pa.array([e.ts for e in events], pa.float64()),
            "amount": pa.array([e.amount for e in events], pa.float64()),
            "category": pa.array([e.category for e in events], pa.string()),
            "consent_personalization": [e.personalization for e in events],
            "consent_training": [True] * len(events),
        }
    )


def replay_and_compare(spec: FeatureSpec, arrival: Sequence[Ev], cuts: Sequence[float]) -> float:
    """Feed ``arrival`` up to each cut, query every user; max |online - batch|."""
    online = OnlineFeatures(spec)
    users = sorted({e.user for e in arrival} | {"never-seen"})
    pending = list(arrival)
    pairs: list[tuple[str, float]] = []
    rows: list[np.ndarray] = []
    for t in sorted(set(cuts)):
        while pending and pending[0].ts <= t:
            e = pending.pop(0)
            online.update(e.user, e.type, e.ts, e.amount, e.category,
                          personalization=e.personalization)  # fmt: skip
        for user in users:
            pairs.append((user, t))
            rows.append(online.vector(user, t))
    batch = feature_vectors_at(table_of(arrival), spec, pairs)
    assert list(batch["user"]) == [u for u, _ in pairs]
    want = batch[list(spec.names)].to_numpy(dtype=np.float64)
    got = np.vstack(rows)
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want))) if got.size else 0.0


def test_parity_on_random_streams_default_spec() -> None:
    rng = random.Random(11)
    events = random_stream(rng, n=2500, users=40, days=120, consent_rate=0.01)
    cuts = [T0 + rng.uniform(0, 125 * DAY) for _ in range(20)]
    cuts += [e.ts for e in rng.sample(events, 10)]

    assert replay_and_compare(DEFAULT_SPEC, arrive(rng, events, cuts), cuts) <= 1e-9


def test_parity_on_random_streams_edgy_spec() -> None:
    rng = random.Random(12)
    events = random_stream(rng, n=1500, users=20, days=6, bucket=900)
    cuts = [T0 + k * 2.5 * 3600 for k in range(62)] + [e.ts for e in rng.sample(events, 15)]

    assert replay_and_compare(EDGY_SPEC, arrive(rng, events, cuts), cuts) <= 1e-9


def test_parity_catches_a_wrong_engine() -> None:
    """Guard that the comparison can fail: shift one window edge and the diff shows it."""
    rows = [Ev("u", "view", T0 - DAY), Ev("u", "view", T0 - DAY + 3600)]
    online = OnlineFeatures(FeatureSpec((Feature("views", "count", "view", window_days=2),)))
    for e in rows:
        online.update(e.user, e.type, e.ts)
    right = FeatureSpec((Feature("views", "count", "view", window_days=1),))

    batch = feature_vectors_at(table_of(rows), right, [("u", T0)])

    assert online.vector("u", T0)[0] == 2.0 and batch["views"][0] == 1.0


_offsets = st.one_of(
    st.integers(0, 24 * 4 * 4).map(lambda k: k * 900.0),
    st.floats(0, 4 * DAY, allow_nan=False),
).flatmap(lambda b: st.sampled_from((0.0, -1e-6, 1e-6, -1.0, 1.0, 1799.0, 1801.0)).map(
    lambda e: max(0.0, b + e)))  # fmt: skip
_events = st.builds(
    Ev,
    user=st.sampled_from(["a", "b", "c"]),
    type=st.sampled_from(TYPES),
    ts=_offsets.map(lambda off: T0 + off),
    amount=st.one_of(st.none(), st.floats(0, 500, allow_nan=False)),
    category=st.sampled_from(CATEGORIES),
    personalization=st.booleans(),
)


# Local time: the specs' own fixed offsets, or a zone with the streams moved to start two
# days (whole hours) before one of its DST transitions, so they cross it.
_zones = st.sampled_from(
    [
        (None, 0.0),
        ("Europe/Berlin", 1792890000 - 2 * DAY - T0),  # 2026-10-25, 03:00 -> 02:00
        ("America/New_York", 1772953200 - 2 * DAY - T0),  # 2026-03-08, 02:00 -> 03:00
        ("Australia/Lord_Howe", 1791039600 - 2 * DAY - T0),  # 2026-10-04, 02:00 -> 02:30
    ]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(_events, min_size=1, max_size=40),
    cut_offsets=st.lists(_offsets, min_size=1, max_size=6),
    at_events=st.lists(st.integers(0, 39), max_size=4),
    seed=st.integers(0, 2**16),
    zoned=_zones,
)
def test_parity_property(
    events: list[Ev],
    cut_offsets: list[float],
    at_events: list[int],
    seed: int,
    zoned: tuple[str | None, float],
) -> None:
    zone, shift = zoned
    events = [replace(e, ts=e.ts + shift) for e in events]
    cuts = [T0 + shift + off for off in cut_offsets]
    cuts += [events[i % len(events)].ts for i in at_events]
    cuts.append(max(e.ts for e in events) + 2 * DAY)
    arrival = arrive(random.Random(seed), events, cuts)
    specs = (EDGY_SPEC, DEFAULT_SPEC)
    if zone is not None:
        specs = tuple(replace(s, utc_offset_hours=0.0, timezone=zone) for s in specs)

    for spec in specs:
        assert replay_and_compare(spec, arrival, cuts) <= 1e-9


def test_batch_matches_the_reference_with_revocations() -> None:
    rng = random.Random(5)
    events = random_stream(rng, n=600, users=5, days=4, bucket=900, consent_rate=0.06)
    arrival = arrive(rng, events, [T0 + k * 3 * 3600 for k in range(36)])
    pairs = [(f"u{i}", T0 + rng.uniform(0, 4.5 * DAY)) for i in range(5) for _ in range(25)]
    revocations = sum(1 for e in events if e.type == "consent" and not e.personalization)

    batch = feature_vectors_at(table_of(arrival), EDGY_SPEC, pairs)

    assert revocations >= 3
    want = [reference_vector(EDGY_SPEC, arrival, u, t) for u, t in pairs]
    np.testing.assert_allclose(batch[list(EDGY_SPEC.names)].to_numpy(float), want, atol=1e-9)


def test_the_log_records_arrival_so_batch_reads_the_same_lateness(tmp_path: Path) -> None:
    rng = random.Random(3)
    events = random_stream(rng, n=400, users=4, days=3, bucket=900)
    arrival = arrive(rng, events, [T0 + k * 4 * 3600 for k in range(20)])
    log = EventLog(tmp_path / "log")
    for chunk in (arrival[:150], arrival[150:]):  # two ingests: lags continue across parts
        log.append([Event(f"e{k}-{e.ts}", e.ts, e.user, e.type, "s", category=e.category,
                          amount=e.amount if e.type == "purchase" else None,
                          consent_personalization=e.personalization, consent_training=True)
                    for k, e in enumerate(chunk)])  # fmt: skip
    pairs = [(f"u{i}", T0 + rng.uniform(0, 3.2 * DAY)) for i in range(4) for _ in range(10)]

    from_log = feature_vectors_at(log, EDGY_SPEC, pairs)
    from_table = feature_vectors_at(table_of(arrival), EDGY_SPEC, pairs)

    assert int(log.to_arrow(["arrival_lag_s"]).column(0).to_numpy().astype(bool).sum()) > 20
    np.testing.assert_allclose(
        from_log[list(EDGY_SPEC.names)].to_numpy(float),
        from_table[list(EDGY_SPEC.names)].to_numpy(float),
        atol=1e-9,
    )


def test_parity_with_more_categories_than_a_bitmask_holds() -> None:
    rng = random.Random(9)
    base = random_stream(rng, n=800, users=6, days=3, bucket=900)
    events = [Ev(e.user, e.type, e.ts, e.amount, f"cat{rng.randrange(70)}", e.personalization)
              for e in base]  # fmt: skip
    cuts = [T0 + k * 3 * 3600.0 for k in range(26)]
    spec = FeatureSpec((Feature("cats", "distinct_categories", "view", window_days=1, cap=40),
                        Feature("cats2", "distinct_categories", "view", window_days=2, cap=5)),
                       bucket_seconds=900)  # fmt: skip

    assert len({e.category for e in events if e.type == "view"}) > 62
    assert replay_and_compare(spec, arrive(rng, events, cuts), cuts) <= 1e-9


@pytest.mark.parametrize("feature", EDGY_SPEC.features, ids=lambda f: f.kind)
def test_parity_of_every_kind_on_its_own(feature: Feature) -> None:
    """A spec of one feature has no other columns to lean on (empty matrix rows etc.)."""
    rng = random.Random(4)
    events = random_stream(rng, n=400, users=4, days=3, bucket=900)
    cuts = [T0 + k * 4 * 3600.0 for k in range(20)] + [e.ts for e in rng.sample(events, 8)]
    spec = FeatureSpec((feature,), bucket_seconds=900, recency_cap_days=3.0,
                       allowed_lateness_hours=2.0)  # fmt: skip

    assert replay_and_compare(spec, arrive(rng, events, cuts), cuts) <= 1e-9
