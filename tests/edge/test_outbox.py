"""The outbox: oldest first, bounded (oldest dropped), exactly once through idempotency keys
while the hub fails and loses acknowledgements, exponential backoff with jitter; and the
node's privacy ledger refusing releases beyond its budget."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from edgemark.bundle import TrustStore
from edgemark.edge import DecisionRequest, Outbox, Runtime
from edgemark.edge._state import StateStore
from edgemark.errors import HubError
from edgemark.privacy import PrivacyBudget
from tests.edge.edge_support import DAY, T0, BundleFactory

KEY = b"o" * 32
DAY0 = int(T0 // DAY)


def _days(runtime: Runtime, days: int, per_day: int = 5) -> None:
    for d in range(days):
        for i in range(per_day):
            runtime.decide(DecisionRequest(f"c{i}", T0 + d * DAY + i))


class FlakyHub:
    """Stores rows by idempotency key; fails some sends, and sometimes loses the answer."""

    def __init__(self, plan: list[str]) -> None:
        self.plan = plan  # per send: "ok", "down" (nothing stored) or "lost" (stored, no ack)
        self.stored: dict[str, dict[str, Any]] = {}
        self.sends = 0

    def send(self, rows: list[dict[str, Any]]) -> None:
        what = self.plan[self.sends] if self.sends < len(self.plan) else "ok"
        self.sends += 1
        if what == "down":
            raise HubError("Cannot reach the hub", status=0)
        for row in rows:
            self.stored.setdefault(row["idempotency_key"], row)
        if what == "lost":
            raise HubError("timed out waiting for the answer", status=0)


def test_every_report_arrives_exactly_once_through_outages(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY)
    runtime.load(make_bundle("v1"))
    _days(runtime, 6)
    rows = runtime.reports(DAY0 + 6)
    assert len(rows) == 6 * 4
    hub = FlakyHub(["down", "lost", "down", "lost"])
    outbox = runtime.outbox
    now, attempts = 1000.0, 0
    while outbox.size() and attempts < 50:
        result = outbox.deliver(hub.send, batch=5, now=now)
        attempts += 1
        now += 1000.0  # past any backoff
        if result.error:
            assert outbox.next_attempt_at > now - 1000.0
    assert outbox.size() == 0 and outbox.failures == 0
    assert sorted(hub.stored) == sorted(r["idempotency_key"] for r in rows)
    assert all(hub.stored[r["idempotency_key"]] == r for r in rows)  # same bytes re-sent
    assert hub.sends > len(rows) / 5  # resends happened, and the hub kept one of each
    runtime.close()


def test_backoff_grows_exponentially_with_jitter_and_resets(tmp_path: Path) -> None:
    outbox = Outbox(StateStore(tmp_path / "edge.db"), base_delay_s=2.0, max_delay_s=60.0,
                    rng=random.Random(3))  # fmt: skip
    delays = [outbox.failed("down", now=0.0) for _ in range(8)]
    ceilings = [min(60.0, 2.0 * 2**k) for k in range(8)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d / c, 6) for d, c in zip(delays, ceilings, strict=True)}) > 4  # jitter
    assert not outbox.due(now=delays[-1] - 0.01) and outbox.due(now=delays[-1])
    assert outbox.deliver(lambda rows: None, now=0.0).waited
    outbox.succeeded()
    assert outbox.due(now=0.0) and outbox.failures == 0


def test_a_full_outbox_drops_the_oldest_rows(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY, outbox_max_rows=6)
    runtime.load(make_bundle("v1"))
    _days(runtime, 3)
    runtime.reports(DAY0 + 3)
    waiting = runtime.outbox.pending(100)
    assert len(waiting) == 6 and {r["day"] for r in waiting} == {DAY0 + 1, DAY0 + 2}
    assert runtime.stats()["outbox"]["dropped"] == 6
    runtime.close()
    again = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY, outbox_max_rows=6)
    assert again.outbox.dropped == 6  # the count survives restarts
    again.close()


def test_the_ledger_refuses_releases_beyond_the_budget(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    budget = PrivacyBudget(epsilon=2.5, period_days=7)
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY, privacy_budget=budget)
    runtime.load(make_bundle("v1", epsilon_per_report=1.0))
    _days(runtime, 4)
    release = runtime.close_days(DAY0 + 4)
    period_start = (DAY0 // 7) * 7
    days_in_period = min(4, period_start + 7 - DAY0)
    released = {r["day"] for r in release.rows}
    assert len(released) == min(2, days_in_period) + min(2, 4 - days_in_period)
    assert release.refused and "refused" in release.refused[0]["reason"]
    assert "budget 2.5" in release.refused[0]["reason"]
    status = runtime.stats()["privacy"]
    assert status["refused_releases"] == len(release.refused)
    assert max(status["spent_by_period"].values()) <= 2.5
    assert runtime.close_days(DAY0 + 4).rows == []  # refused days are closed, not retried
    runtime.close()
    again = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY, privacy_budget=budget)
    assert again.ledger.spent(DAY0 // 7) == pytest.approx(min(2, days_in_period))
    again.close()
