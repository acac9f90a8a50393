"""The running-sum plan of the batch engine gives the frames of the join plan (the reference).

``build_training_frame`` and ``feature_vectors_at`` use the running plan; the join plan of
``BatchSQL`` stays available as ``reference=True`` (and takes over for what the running plan
cannot hold exactly). Both must agree to 1e-9 on every cell.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from edgemark.events import EventLog
from edgemark.features import DEFAULT_SPEC, Feature, FeatureSpec, Outcome
from edgemark.features import _running as running
from edgemark.features._batch import _training_frame, _vectors_at
from edgemark.features._prefix import Unsupported
from tests.features.reference import DAY, T0, arrive, random_stream
from tests.features.test_online_reference import EDGY_SPEC
from tests.features.test_parity import table_of

sim = pytest.importorskip("edgemark.sim")


def _both(run: Any) -> tuple[Any, Any]:
    return run(False), run(True)


def test_running_plan_gives_the_reference_frame_on_a_simulated_log(tmp_path: Path) -> None:
    config = sim.SimConfig(customers=400, days=63, seed=5)
    log = EventLog(tmp_path / "log")
    log.append(sorted(sim.RetailWorld(config).history(config.days), key=lambda e: e.ts))
    times = [config.start + d * DAY for d in (7, 14, 21, 28, 35, 42, 49, 55.37)]
    outcomes = [Outcome("label", "purchase", 7), Outcome("churn_14d", "churn", 14),
                Outcome("spend_next_7d", "spend", 7)]  # fmt: skip

    new, old = _both(lambda ref: _training_frame(log, DEFAULT_SPEC, times, 7, outcomes, ref))

    assert len(new) > 1500
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=0, atol=1e-9)
    moving = [n for n in DEFAULT_SPEC.names if new[n].nunique() > 1]
    assert set(DEFAULT_SPEC.names) - set(moving) <= {"hour_of_day", "day_of_week"}


def test_running_plan_gives_the_reference_vectors_with_revocations_and_late_events() -> None:
    rng = random.Random(21)
    events = random_stream(rng, n=1500, users=12, days=5, bucket=900, consent_rate=0.05)
    cuts = [T0 + k * 2.5 * 3600 for k in range(48)]
    arrival = arrive(rng, events, cuts)
    pairs = [(f"u{i}", t) for i in range(13) for t in cuts + [e.ts for e in events[::97]]]

    for spec in (EDGY_SPEC, DEFAULT_SPEC):
        new, old = _both(lambda ref, s=spec: _vectors_at(table_of(arrival), s, pairs, ref))
        pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=0, atol=1e-9)
        assert np.count_nonzero(new[list(spec.names)].to_numpy()) > len(pairs)


def test_a_spec_the_running_plan_cannot_hold_falls_back_to_the_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refused: list[str] = []

    def spy(*args: Any) -> Any:
        try:
            return compute(*args)
        except Unsupported as exc:
            refused.append(str(exc))
            raise

    compute = running.compute
    monkeypatch.setattr(running, "compute", spy)
    rng = random.Random(8)
    events = random_stream(rng, n=300, users=3, days=40, bucket=900)
    spec = FeatureSpec((Feature("fast_decay", "decayed_count", "view", window_days=1,
                                half_life_days=1 / 96),),  # 40 days = 3840 half-lives
                       bucket_seconds=900)  # fmt: skip
    pairs = [(f"u{i}", T0 + d * DAY) for i in range(3) for d in (10.3, 20.1, 39.9)]

    new, old = _both(lambda ref: _vectors_at(table_of(events), spec, pairs, ref))

    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=0, atol=1e-9)
    assert new["fast_decay"].max() > 0
    assert refused == ["decayed sums span too many half-lives for one running sum"]


def test_running_plan_with_a_time_per_pair_gives_the_reference_vectors() -> None:
    """More distinct pair times than the SQL lists inline: they are joined from a table."""
    rng = random.Random(3)
    events = random_stream(rng, n=1500, users=10, days=30, consent_rate=0.02)
    pairs = [(f"u{rng.randrange(11)}", T0 + rng.uniform(0, 31 * DAY)) for _ in range(1200)]

    new, old = _both(lambda ref: _vectors_at(table_of(events), DEFAULT_SPEC, pairs, ref))

    assert len({int(t // 3600) for _, t in pairs}) > running._LISTED
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=0, atol=1e-9)
