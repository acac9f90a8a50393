"""The central invariant: online vector(user, t) equals the batch row at t (within 1e-9)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from edgemark.features import (
    DEFAULT_SPEC,
    Feature,
    FeatureSpec,
    OnlineFeatures,
    feature_vectors_at,
)

DAY = 86400.0
T0 = 1767571200.0  # on a bucket boundary
Row = tuple[str, str, float, float | None]  # user, type, ts, amount

EDGY_SPEC = FeatureSpec(
    (
        Feature("recency_view", "recency_days", "view"),
        Feature("views_1d", "count", "view", window_days=1),
        Feature("views_2d", "count", "view", window_days=2),
        Feature("views_5d", "count", "view", window_days=5),
        Feature("view_amount_2d", "sum_amount", "view", window_days=2),
        Feature("spend_5d", "sum_amount", "purchase", window_days=5),
        Feature("decayed_buys", "decayed_count", "purchase", half_life_days=0.5),
        Feature("decayed_buys_slow", "decayed_count", "purchase", half_life_days=4),
        Feature("recency_cart", "recency_days", "add_to_cart"),
    ),
    bucket_seconds=900,
    recency_cap_days=3.0,
)
TYPES = ("view", "add_to_cart", "purchase", "consent")
# Offsets that sit on bucket boundaries, a hair either side, and on window edges.
EDGES = (0.0, -1e-6, 1e-6, -1.0, 1.0, 899.0, 900.0, 3599.0, 3600.0)


def _replay_and_compare(rows: Sequence[Row], query_times: Sequence[float], spec: FeatureSpec,
                        seed: int = 0) -> float:  # fmt: skip
    """Feed events interval by interval (shuffled inside), query every user; max |diff|."""
    rng = random.Random(seed)
    online = OnlineFeatures(spec)
    users = sorted({r[0] for r in rows} | {"never-seen"})
    pending = sorted(rows, key=lambda r: r[2])
    pairs: list[tuple[str, float]] = []
    online_rows: list[np.ndarray] = []
    for t in sorted(set(query_times)):
        due = [r for r in pending if r[2] <= t]
        pending = [r for r in pending if r[2] > t]
        rng.shuffle(due)  # out-of-order arrival
        for user, event_type, ts, amount in due:
            online.update(user, event_type, ts, amount)
        for user in users:
            pairs.append((user, t))
            online_rows.append(online.vector(user, t))
    table = pa.table(
        {
            "user": [r[0] for r in rows],
            "type": [r[1] for r in rows],
            "ts": pa.array([r[2] for r in rows], pa.float64()),
            "amount": pa.array([r[3] for r in rows], pa.float64()),
        }
    )
    batch = feature_vectors_at(table, spec, pairs)
    assert list(batch["user"]) == [u for u, _ in pairs]
    got = np.vstack(online_rows)
    want = batch[list(spec.names)].to_numpy(dtype=np.float64)
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want))) if got.size else 0.0


def _random_stream(rng: random.Random, n_events: int, n_users: int, days: int) -> list[Row]:
    rows: list[Row] = []
    for _ in range(n_events):
        user = f"u{rng.randrange(n_users)}"
        event_type = rng.choice(TYPES)
        if rng.random() < 0.3:  # land on (or next to) a bucket boundary
            ts = T0 + rng.randrange(days * 24) * 3600.0 + rng.choice(EDGES)
        else:
            ts = T0 + rng.uniform(0, days * DAY)
        amount = round(rng.uniform(0, 200), 2) if event_type == "purchase" else None
        if event_type == "view" and rng.random() < 0.2:
            amount = 1.25  # amounts on other types are summed too when a spec asks
        rows.append((user, event_type, ts, amount))
    rows.append(("u-no-purchases", "view", T0 + 3 * DAY, None))
    return rows


def _query_times(rng: random.Random, rows: Sequence[Row], days: int, n: int) -> list[float]:
    times = [T0 + rng.uniform(0, days * DAY) for _ in range(n)]
    times += [T0 + rng.randrange(days * 24) * 3600.0 for _ in range(n)]  # bucket boundaries
    for _ in range(n):
        ts = rng.choice(rows)[2]
        times.append(ts)  # events exactly at t
        times.append(ts + rng.choice((1, 2, 5, 7, 30, 90)) * DAY + rng.choice(EDGES))
    return times


def test_parity_on_random_streams_default_spec() -> None:
    rng = random.Random(11)
    rows = _random_stream(rng, n_events=1500, n_users=40, days=120)

    diff = _replay_and_compare(rows, _query_times(rng, rows, 130, 12), DEFAULT_SPEC, seed=1)

    assert diff <= 1e-9


def test_parity_on_random_streams_edgy_spec() -> None:
    rng = random.Random(12)
    rows = _random_stream(rng, n_events=1500, n_users=30, days=12)

    diff = _replay_and_compare(rows, _query_times(rng, rows, 14, 15), EDGY_SPEC, seed=2)

    assert diff <= 1e-9


def test_parity_catches_a_wrong_engine() -> None:
    """Guard that the comparison can fail: shift one window edge and the diff shows it."""
    rows: list[Row] = [("u", "view", T0 - DAY, None), ("u", "view", T0 - DAY + 3600, None)]
    wrong = FeatureSpec((Feature("views_1d", "count", "view", window_days=2),))
    online = OnlineFeatures(wrong)
    for user, event_type, ts, amount in rows:
        online.update(user, event_type, ts, amount)

    batch = feature_vectors_at(
        pa.table({"user": ["u", "u"], "type": ["view", "view"], "ts": [r[2] for r in rows],
                  "amount": pa.array([None, None], pa.float64())}),
        FeatureSpec((Feature("views_1d", "count", "view", window_days=1),)),
        [("u", T0)],
    )  # fmt: skip

    assert online.vector("u", T0)[0] == 2.0 and batch["views_1d"][0] == 1.0


_offsets = st.one_of(
    st.integers(0, 24 * 12).map(lambda h: h * 3600.0),
    st.integers(0, 24 * 12).map(lambda h: h * 3600.0 + 900.0),
    st.floats(0, 12 * DAY, allow_nan=False),
).flatmap(lambda base: st.sampled_from(EDGES).map(lambda e: max(0.0, base + e)))
_events = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from(TYPES),
    _offsets,
    st.floats(0, 500, allow_nan=False),
)


@settings(max_examples=30, deadline=None)
@given(
    events=st.lists(_events, min_size=1, max_size=40),
    extra_times=st.lists(_offsets, max_size=4),
    at_events=st.lists(st.integers(0, 39), max_size=4),
    seed=st.integers(0, 2**16),
)
def test_parity_property(
    events: list[tuple[str, str, float, float]],
    extra_times: list[float],
    at_events: list[int],
    seed: int,
) -> None:
    rows: list[Row] = [
        (u, t, T0 + off, amount if t == "purchase" else None) for u, t, off, amount in events
    ]
    times = [T0 + off for off in extra_times] + [rows[i % len(rows)][2] for i in at_events]
    times.append(max(r[2] for r in rows) + 2 * DAY)  # window edge for 2-day windows

    for spec in (DEFAULT_SPEC, EDGY_SPEC):
        assert _replay_and_compare(rows, times, spec, seed) <= 1e-9


def test_decayed_value_is_the_closed_form() -> None:
    online = OnlineFeatures(EDGY_SPEC)
    stamps = [T0 + 5000.0, T0, T0 + 90000.0, T0 + 12.5]  # out of order
    for ts in stamps:
        online.update("u", "purchase", ts, 1.0)
    t = T0 + 3 * DAY

    value = online.vector("u", t)[EDGY_SPEC.names.index("decayed_buys")]

    expected = math.fsum(2 ** (-(t - ts) / (0.5 * DAY)) for ts in stamps)
    assert abs(value - expected) <= 1e-12
