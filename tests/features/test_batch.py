from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from edgemark.errors import FeatureError
from edgemark.events import Event, EventLog
from edgemark.features import DEFAULT_SPEC, OnlineFeatures, build_training_frame, label_schedule

DAY = 86400.0
T0 = 1767571200.0
COLUMNS = ["user", "label_time", *DEFAULT_SPEC.names, "label"]


def _events() -> list[Event]:
    return [
        Event("e1", T0 - 10 * DAY, "alice", "purchase", "s1", amount=30.0),
        Event("e2", T0 - 1 * DAY, "alice", "view", "s1"),
        Event("e3", T0, "alice", "purchase", "s1", amount=5.0),  # exactly at label time
        Event("e4", T0 + 3 * DAY, "alice", "purchase", "s1", amount=7.0),  # label, not feature
        Event("e5", T0 - 2 * DAY, "bob", "view", "s1"),
        Event("e6", T0 + 7 * DAY, "bob", "purchase", "s1", amount=1.0),  # horizon edge: in
        Event("e7", T0 + 1.0, "carol", "view", "s1"),  # first event after label time: no row
        Event("e8", T0 - DAY, "dave", "consent", "s1"),
        Event("e9", T0 + 7 * DAY + 1.0, "dave", "purchase", "s1", amount=2.0),  # beyond horizon
    ]


def _log(tmp_path: Path) -> EventLog:
    log = EventLog(tmp_path / "log")
    log.append(_events())
    return log


def test_frame_is_point_in_time_correct(tmp_path: Path) -> None:
    frame = build_training_frame(_log(tmp_path), DEFAULT_SPEC, [T0])

    assert list(frame.columns) == COLUMNS
    assert list(frame["user"]) == ["alice", "bob", "dave"]
    alice = frame.iloc[0]
    assert alice["recency_purchase_days"] == 0.0
    assert (alice["purchases_30d"], alice["spend_30d"], alice["views_7d"]) == (2.0, 35.0, 1.0)
    assert list(frame["label"]) == [1, 1, 0]
    assert frame.iloc[2]["recency_purchase_days"] == 365.0
    assert frame["label"].dtype == np.int64
    assert all(frame[n].dtype == np.float64 for n in DEFAULT_SPEC.names)


def test_frame_rows_equal_online_vectors(tmp_path: Path) -> None:
    label_times = [T0 - 5 * DAY, T0, T0 + 4 * DAY, T0 + 30 * DAY]
    frame = build_training_frame(_log(tmp_path), DEFAULT_SPEC, label_times)

    for t, rows in frame.groupby("label_time"):
        online = OnlineFeatures(DEFAULT_SPEC)
        for e in _events():
            if e.ts <= t:
                online.update(e.user, e.type, e.ts, e.amount)
        for _, row in rows.iterrows():
            expected = online.vector(row["user"], float(t))
            np.testing.assert_allclose(
                row[list(DEFAULT_SPEC.names)].to_numpy(float), expected, rtol=0, atol=1e-9
            )
    assert len(frame) == 1 + 3 + 4 + 4


def test_all_input_forms_agree(tmp_path: Path) -> None:
    log = _log(tmp_path)
    table = log.to_arrow()
    frames = [
        build_training_frame(log, DEFAULT_SPEC, [T0]),
        build_training_frame(log.parquet_glob(), DEFAULT_SPEC, [T0]),
        build_training_frame(table, DEFAULT_SPEC, [T0]),
        build_training_frame(table.to_pandas(), DEFAULT_SPEC, [T0]),
    ]
    with_timestamps = table.set_column(
        1, "ts", pa.array((np.array(table["ts"]) * 1e6).astype("datetime64[us]"))
    )
    frames.append(build_training_frame(with_timestamps, DEFAULT_SPEC, [T0]))

    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)


def test_empty_log_gives_an_empty_frame(tmp_path: Path) -> None:
    frame = build_training_frame(EventLog(tmp_path / "empty"), DEFAULT_SPEC, [T0])

    assert list(frame.columns) == COLUMNS and len(frame) == 0


def test_bad_inputs_are_feature_errors(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="lack the column"):
        build_training_frame(pd.DataFrame({"user": ["a"], "ts": [1.0]}), DEFAULT_SPEC, [T0])
    with pytest.raises(FeatureError, match="cannot read events"):
        build_training_frame(str(tmp_path / "none-*.parquet"), DEFAULT_SPEC, [T0])
    with pytest.raises(FeatureError, match="label_times must be finite"):
        build_training_frame(_log(tmp_path), DEFAULT_SPEC, [float("nan")])
    with pytest.raises(FeatureError, match="horizon_days"):
        build_training_frame(_log(tmp_path), DEFAULT_SPEC, [T0], horizon_days=0)
    with pytest.raises(FeatureError, match="pyarrow Table"):
        build_training_frame(42, DEFAULT_SPEC, [T0])


def test_label_schedule_stays_inside_the_span(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")
    log.append(
        [Event("a", T0 + 3600.0, "u", "view", "s"), Event("b", T0 + 30 * DAY, "u", "view", "s")]
    )

    times = label_schedule(log, every_days=7, horizon_days=7)

    assert times == [T0 + 7 * DAY, T0 + 14 * DAY, T0 + 21 * DAY]
    with pytest.raises(FeatureError, match="too short"):
        label_schedule(log, every_days=20, horizon_days=20)
    with pytest.raises(FeatureError, match="no events"):
        label_schedule(EventLog(tmp_path / "empty"), 7, 7)
