"""Training frames: point in time, planted future events, outcomes, training consent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from edgemark.errors import FeatureError
from edgemark.events import Event, EventLog
from edgemark.features import (
    DEFAULT_SPEC,
    Feature,
    FeatureSpec,
    OnlineFeatures,
    Outcome,
    build_training_frame,
    label_schedule,
)

DAY = 86400.0
T0 = 1767571200.0
COLUMNS = ["user", "label_time", *DEFAULT_SPEC.names, "label"]
YES = {"consent_personalization": True, "consent_measurement": True, "consent_training": True}


def _e(eid: str, ts: float, user: str, kind: str, amount: float | None = None,
       **flags: bool) -> Event:  # fmt: skip
    consent = {**YES, **flags}
    return Event(eid, ts, user, kind, "s1", category="home", amount=amount, **consent)


def _events() -> list[Event]:
    return [
        _e("e1", T0 - 10 * DAY, "alice", "purchase", 30.0),
        _e("e2", T0 - 1 * DAY, "alice", "view"),
        _e("e3", T0, "alice", "purchase", 5.0),  # exactly at label time
        _e("e4", T0 + 3 * DAY, "alice", "purchase", 7.0),  # label, not feature
        _e("e5", T0 - 2 * DAY, "bob", "view"),
        _e("e6", T0 + 7 * DAY, "bob", "purchase", 1.0),  # horizon edge: in
        _e("e7", T0 + 1.0, "carol", "view"),  # first event after label time: no row
        _e("e8", T0 - DAY, "dave", "consent"),
        _e("e9", T0 + 7 * DAY + 1.0, "dave", "purchase", 2.0),  # beyond horizon
        _e("e10", T0 - DAY, "erin", "view", consent_training=False),  # no training consent
    ]


def _log(tmp_path: Path, events: list[Event] | None = None) -> EventLog:
    log = EventLog(tmp_path / "log")
    log.append(_events() if events is None else events)
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


def test_planted_future_events_never_reach_the_features(tmp_path: Path) -> None:
    label_time = T0
    clean = _events()
    planted = [
        _e(f"p{k}", label_time + dt, user, kind, 999.0 if kind == "purchase" else None)
        for k, (user, dt, kind) in enumerate(
            [(u, dt, kind) for u in ("alice", "bob", "dave")
             for dt in (1e-6, 1.0, 3599.0, 3600.0, DAY, 30 * DAY)
             for kind in ("purchase", "view", "add_to_cart", "exposure", "redeem")]
        )
    ]  # fmt: skip
    planted = [Event(**{**p.to_dict(), "offer": "o1"}) for p in planted]

    before = build_training_frame(_log(tmp_path / "a", clean), DEFAULT_SPEC, [label_time])
    after = build_training_frame(_log(tmp_path / "b", clean + planted), DEFAULT_SPEC, [label_time])

    names = list(DEFAULT_SPEC.names)
    pd.testing.assert_frame_equal(before[["user", *names]], after[["user", *names]])
    assert list(after["label"]) == [1, 1, 1]  # the planted purchases are outcomes, not inputs


def test_frame_rows_equal_online_vectors(tmp_path: Path) -> None:
    label_times = [T0 - 5 * DAY, T0, T0 + 4 * DAY, T0 + 30 * DAY]
    frame = build_training_frame(_log(tmp_path), DEFAULT_SPEC, label_times)

    for t, rows in frame.groupby("label_time"):
        online = OnlineFeatures(DEFAULT_SPEC)
        for e in _events():
            if e.ts <= t:
                online.update_event(e)
        for _, row in rows.iterrows():
            expected = online.vector(row["user"], float(t))
            got = row[list(DEFAULT_SPEC.names)].to_numpy(float)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    assert len(frame) == 1 + 3 + 4 + 4


def test_outcomes_purchase_churn_and_spend(tmp_path: Path) -> None:
    outcomes = [Outcome("buy_7d", "purchase", 7), Outcome("churn_3d", "churn", 3),
                Outcome("spend_next_7d", "spend", 7)]  # fmt: skip

    frame = build_training_frame(_log(tmp_path), DEFAULT_SPEC, [T0], outcomes=outcomes)

    assert list(frame.columns)[-3:] == ["buy_7d", "churn_3d", "spend_next_7d"]
    assert list(frame["buy_7d"]) == [1, 1, 0]
    assert list(frame["churn_3d"]) == [0, 1, 1]  # alice buys on day 3; bob on day 7
    assert list(frame["spend_next_7d"]) == [7.0, 1.0, 0.0]


def test_training_consent_decides_who_is_in_the_frame(tmp_path: Path) -> None:
    events = [
        _e("a1", T0 - 5 * DAY, "ann", "view"),
        _e("a2", T0 - 3 * DAY, "ann", "consent", consent_training=False),
        _e("a3", T0 + 2 * DAY, "ann", "consent", consent_training=True),
        _e("b1", T0 - 5 * DAY, "ben", "view", consent_training=False),
        _e("b2", T0 - 1 * DAY, "ben", "consent"),  # a consent event decides
        _e("c1", T0 - 5 * DAY, "cy", "view"),
        _e("c2", T0 + 1 * DAY, "cy", "view", consent_training=False),
    ]

    frame = build_training_frame(_log(tmp_path, events), DEFAULT_SPEC, [T0, T0 + 3 * DAY])

    rows = sorted(zip(frame["label_time"], frame["user"], strict=True))
    assert rows == [(T0, "ben"), (T0, "cy"), (T0 + 3 * DAY, "ann"), (T0 + 3 * DAY, "ben")]


def test_personalization_consent_filters_the_features(tmp_path: Path) -> None:
    events = [
        _e("v1", T0 - 2 * DAY, "u", "view"),
        _e("v2", T0 - 1 * DAY, "u", "view", consent_personalization=False),
        _e("r1", T0 - 0.5 * DAY, "u", "consent", consent_personalization=False),
        _e("v3", T0 - 0.2 * DAY, "u", "view"),
    ]

    frame = build_training_frame(_log(tmp_path, events), DEFAULT_SPEC,
                                 [T0 - 1.5 * DAY, T0 - 0.7 * DAY, T0])  # fmt: skip

    assert list(frame["views_7d"]) == [1.0, 1.0, 0.0]  # revoked at T0: defaults


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
    spec = FeatureSpec((Feature("v", "count", "view", window_days=1),))
    no_consent = pd.DataFrame({"user": ["a"], "ts": [1.0], "type": ["view"]})
    with pytest.raises(FeatureError, match=r"lack the column.*consent"):
        build_training_frame(no_consent, spec, [T0])
    with pytest.raises(FeatureError, match="cannot read events"):
        build_training_frame(str(tmp_path / "none-*.parquet"), spec, [T0])
    with pytest.raises(FeatureError, match="label_times must be finite"):
        build_training_frame(_log(tmp_path), spec, [float("nan")])
    with pytest.raises(FeatureError, match="horizon_days"):
        build_training_frame(_log(tmp_path), spec, [T0], horizon_days=0)
    with pytest.raises(FeatureError, match="pyarrow Table"):
        build_training_frame(42, spec, [T0])
    with pytest.raises(FeatureError, match="differ from feature names"):
        build_training_frame(_log(tmp_path), spec, [T0], outcomes=[Outcome("v", "spend", 1)])


def test_outcome_parsing() -> None:
    assert Outcome.parse("churn:30") == Outcome("churn_30d", "churn", 30.0)
    assert Outcome.parse("y=spend:7.5") == Outcome("y", "spend", 7.5)
    with pytest.raises(FeatureError, match="kind:days"):
        Outcome.parse("churn")
    with pytest.raises(FeatureError, match="unknown kind"):
        Outcome.parse("visit:3")


def test_label_schedule_stays_inside_the_span(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")
    log.append([_e("a", T0 + 3600.0, "u", "view"), _e("b", T0 + 30 * DAY, "u", "view")])

    times = label_schedule(log, every_days=7, horizon_days=7)

    assert times == [T0 + 7 * DAY, T0 + 14 * DAY, T0 + 21 * DAY]
    with pytest.raises(FeatureError, match="too short"):
        label_schedule(log, every_days=20, horizon_days=20)
    with pytest.raises(FeatureError, match="no events"):
        label_schedule(EventLog(tmp_path / "empty"), 7, 7)
