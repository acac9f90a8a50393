"""Hour of day and weekday in an IANA zone: DST-aware, equal in all three engines (online
reader, running plan, SQL join plan) and equal to the zone database's wall clock
(``datetime.fromtimestamp(t, ZoneInfo(zone))``), across the skipped and the repeated hour."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edgemark.features import Feature, FeatureSpec, OnlineFeatures, feature_vectors_at
from edgemark.features._batch import _vectors_at
from edgemark.features._local import CHUNK, LocalTime
from tests.features.reference import Ev
from tests.features.test_parity import table_of

# (zone, transition instant UTC, local hour whose count on the 15-minute grid shows DST,
# that count): a skipped hour appears 0 times, a repeated one 8 times; Lord Howe shifts by
# 30 minutes and Kathmandu (1986) by 15.
TRANSITIONS = [
    ("Europe/Berlin", 1774746000, 2, 0),  # 2026-03-29 02:00 -> 03:00 (skipped)
    ("Europe/Berlin", 1792890000, 2, 8),  # 2026-10-25 03:00 -> 02:00 (repeated)
    ("America/New_York", 1772953200, 2, 0),  # 2026-03-08 02:00 -> 03:00
    ("America/New_York", 1793512800, 1, 8),  # 2026-11-01 02:00 -> 01:00
    ("Australia/Lord_Howe", 1775314800, 1, 6),  # 2026-04-05 02:00 -> 01:30 (+11 -> +10:30)
    ("Australia/Lord_Howe", 1791041400, 2, 2),  # 2026-10-04 02:00 -> 02:30
    ("Asia/Kathmandu", 504901800, 0, 3),  # 1986-01-01 00:00 -> 00:15 (+5:30 -> +5:45)
]
CONTEXT = (
    Feature("hour", "hour_of_day"),
    Feature("weekday", "day_of_week"),
    Feature("views_1d", "count", "view", window_days=1),
)


def truth(zone: str, times: list[float]) -> np.ndarray:
    """Hour and weekday of each time from the zone database (the ground truth)."""
    walls = [datetime.fromtimestamp(t, ZoneInfo(zone)) for t in times]
    return np.array([[w.hour, w.weekday()] for w in walls], dtype=np.float64)


def engines(spec: FeatureSpec, times: list[float]) -> dict[str, np.ndarray]:
    """Hour and weekday of a user at each time from the online reader, the running plan
    and the SQL join plan."""
    event = Ev("u", "view", min(times) - 3600.0)
    online = OnlineFeatures(spec)
    online.update(event.user, event.type, event.ts)
    pairs = [("u", t) for t in times]
    out = {"online": np.vstack([online.vector("u", t)[:2] for t in times])}
    for name, reference in (("running", False), ("sql", True)):
        frame = _vectors_at(table_of([event]), spec, pairs, reference=reference)
        out[name] = frame[["hour", "weekday"]].to_numpy(dtype=np.float64)
    return out


@pytest.mark.parametrize(("zone", "instant", "hour", "count"), TRANSITIONS)
def test_every_engine_reads_the_wall_clock_across_a_transition(
    zone: str, instant: int, hour: int, count: int
) -> None:
    before, after = (
        datetime.fromtimestamp(t, ZoneInfo(zone)).utcoffset() for t in (instant - 1, instant)
    )
    grid = [instant + k * 900.0 for k in range(-32, 33)]  # 8 hours either side
    times = grid + [g + d for g in grid for d in (-1e-3, 1e-3, -1.0)]
    want = truth(zone, times)

    got = engines(FeatureSpec(CONTEXT, timezone=zone), times)

    assert before != after  # the offset changes at instant
    for name, values in got.items():
        np.testing.assert_array_equal(values, want, err_msg=name)
    hours = want[: len(grid), 0]
    assert int(np.sum(hours == hour)) == count


def test_a_fixed_offset_misses_dst() -> None:
    """Guard that the comparison can fail: +1 h all year is wrong in Berlin's summer."""
    times = [1774746000.0 + k * 3600.0 for k in range(1, 5)]  # after the spring change

    fixed = engines(FeatureSpec(CONTEXT, utc_offset_hours=1.0), times)["online"]

    assert np.all(fixed[:, 0] == truth("Europe/Berlin", times)[:, 0] - 1)


@pytest.mark.parametrize(
    "zone", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
def test_offsets_over_a_year_equal_the_zone_database(zone: str) -> None:
    start = 1767225600.0  # 2026-01-01 00:00 UTC; the year crosses a table chunk
    times = [start + k * 900.0 + 450.0 for k in range(365 * 96)]
    want = truth(zone, times)
    local = LocalTime(zone, 0.0)
    shuffled = random.Random(1).sample(times, len(times))

    hours, weekdays = local.hours_weekdays(np.asarray(times))
    in_order = [local.context(t) for t in times]
    backwards = dict(zip(shuffled, (local.context(t) for t in shuffled), strict=True))

    assert len({int(start + 1) // CHUNK, int(times[-1]) // CHUNK}) == 2
    np.testing.assert_array_equal(np.column_stack([hours, weekdays]), want)
    np.testing.assert_array_equal(np.array(in_order), want)
    np.testing.assert_array_equal(np.array([backwards[t] for t in times]), want)


def test_the_table_finds_transitions_at_and_near_chunk_edges() -> None:
    """Changes on a chunk's first second, 7 s apart (within one probe step) and on a chunk's
    last second, against the offset function the table was probed from."""
    edge = 53 * CHUNK
    changes = [(edge, 3600.0), (edge + 7, 5400.0), (edge + CHUNK - 1, -1800.0)]

    def offset_of(second: int) -> float:
        return max([(s, o) for s, o in [(-(2**62), 0.0), *changes] if s <= second])[1]

    local = LocalTime("UTC", 0.0)
    local._utcoffset = offset_of  # type: ignore[method-assign]
    seconds = [edge + d for d in range(-3, 12)] + [edge + CHUNK + d for d in range(-3, 3)]
    times = np.array([s + f for s in seconds for f in (0.0, 0.5)])

    assert local.offsets(times).tolist() == [offset_of(int(t // 1)) for t in times]
    assert [local.offset_at(t) for t in times] == [offset_of(int(t // 1)) for t in times]


def test_feature_vectors_at_is_public_and_zoned() -> None:
    t = 1792890000.0 + 1800.0  # Berlin, the second 02:30 of 2026-10-25
    event = Ev("u", "view", t - 60.0)

    frame = feature_vectors_at(table_of([event]), FeatureSpec(CONTEXT, timezone="Europe/Berlin"),
                               [("u", t), ("u", t - 3600.0)])  # fmt: skip

    assert frame["hour"].tolist() == [2.0, 2.0] and frame["views_1d"].tolist() == [1.0, 0.0]
