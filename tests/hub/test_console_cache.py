"""The console's cache of figures that scan whole tables: fresh when cheap, served stale
(and recomputed in the background) only when slow, never shared between databases."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from edgemark.hub import _console_data as data


@pytest.fixture
def session() -> Iterator[Session]:
    engine = create_engine("sqlite://")
    with Session(engine) as s:
        yield s
    engine.dispose()


class Counter:
    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay

    def __call__(self, _session: Session) -> int:
        self.calls += 1
        time.sleep(self.delay)
        return self.calls


def test_cheap_figures_are_recomputed_whenever_the_data_changed(session: Session) -> None:
    compute = Counter()
    now = time.time()
    assert data.memo(session, "x", 1, compute, now, stale_ok=True)[0] == 1
    assert data.memo(session, "x", 1, compute, now + 1, stale_ok=True)[0] == 1  # same key
    assert data.memo(session, "x", 2, compute, now + 2, stale_ok=True)[0] == 2  # new data


def test_slow_figures_are_served_stale_then_refreshed_in_the_background(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    compute = Counter(delay=data.SLOW_S + 0.05)
    now = time.time()
    assert data.memo(session, "y", 1, compute, now, stale_ok=True)[0] == 1
    value, at = data.memo(session, "y", 2, compute, now + 1, stale_ok=True)
    assert value == 1 and at <= now + 1 and compute.calls == 1  # stale, said by ``at``
    assert data.memo(session, "z", 1, Counter(delay=0.2), now)[0] == 1
    later = now + data.RECOMPUTE_S + 1
    assert data.memo(session, "y", 2, compute, later, stale_ok=True)[0] == 1  # not waiting
    deadline = time.monotonic() + 5
    while compute.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)
    assert data.memo(session, "y", 2, compute, later + 1, stale_ok=True)[0] == 2


def test_without_stale_ok_a_change_is_computed_at_once(session: Session) -> None:
    compute = Counter(delay=data.SLOW_S + 0.05)
    now = time.time()
    assert data.memo(session, "audit", (1, "a"), compute, now)[0] == 1
    assert data.memo(session, "audit", (2, "b"), compute, now + 1)[0] == 2


def test_two_databases_never_share_figures() -> None:
    first, second = create_engine("sqlite://"), create_engine("sqlite://")
    now = time.time()
    with Session(first) as a, Session(second) as b:
        assert data.memo(a, "x", 1, lambda _s: "first", now)[0] == "first"
        assert data.memo(b, "x", 1, lambda _s: "second", now)[0] == "second"
    first.dispose()
    second.dispose()
