"""A slow, obviously-correct reference of the feature semantics (the test oracle).

It recomputes every feature of one user at one time from the whole arrival-ordered event
list, straight from the definitions in docs/features.md, sharing no code with the engines.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from edgemark.features import FeatureSpec

DAY = 86400.0
T0 = 1767571200.0  # 2026-01-05 00:00 UTC (a Monday), on every bucket boundary


@dataclass(frozen=True)
class Ev:
    """One event as the engines see it (``user`` already pseudonymous)."""

    user: str
    type: str
    ts: float
    amount: float | None = None
    category: str | None = None
    personalization: bool = True


def reference_vector(spec: FeatureSpec, events: Sequence[Ev], user: str, t: float) -> list[float]:
    """The feature vector of ``user`` at ``t``; ``events`` in arrival order (all users)."""
    mine = [e for e in events if e.user == user]
    lateness = spec.allowed_lateness_hours * 3600
    lags: list[float] = []
    newest = -math.inf
    for e in mine:
        lags.append(max(0.0, newest - e.ts))
        newest = max(newest, e.ts)
    consents = []
    for e, lag in zip(mine, lags, strict=True):
        if e.type == "consent":
            if not e.personalization:
                consents.append((e.ts + lag, False))
            elif lag <= lateness:
                consents.append((e.ts, True))
    effective = [c for c in consents if c[0] <= t]
    revoked = False
    if effective:
        top = max(eff for eff, _ in effective)
        revoked = any(not granted for eff, granted in effective if eff == top)
    cut = max((eff for eff, granted in effective if not granted), default=-math.inf)
    usable = [
        e
        for e, lag in zip(mine, lags, strict=True)
        if e.type != "consent" and e.personalization and lag <= lateness and cut < e.ts <= t
    ]
    return [_feature(spec, f, [] if revoked else usable, t) for f in spec.features]


def _feature(spec: FeatureSpec, f: object, usable: list[Ev], t: float) -> float:
    from edgemark.features import Feature

    assert isinstance(f, Feature)
    bucket = spec.bucket_seconds
    cur = math.floor(t / bucket)

    def inside(ts: float) -> bool:
        return f.window_days is not None and math.floor(ts / bucket) > cur - round(
            f.window_days * DAY / bucket
        )

    of_type = [e for e in usable if e.type == f.event_type]
    windowed = [e for e in of_type if inside(e.ts)]
    kind = f.kind
    if kind == "count":
        return float(len(windowed))
    if kind == "sum_amount":
        return math.fsum(e.amount or 0.0 for e in windowed)
    if kind == "mean_amount":
        return math.fsum(e.amount or 0.0 for e in windowed) / len(windowed) if windowed else 0.0
    if kind == "recency_days":
        if not of_type:
            return float(spec.recency_cap_days)
        return min(float(spec.recency_cap_days), (t - max(e.ts for e in of_type)) / DAY)
    if kind == "decayed_count":
        assert f.half_life_days is not None
        return math.fsum(2 ** ((e.ts - t) / (f.half_life_days * DAY)) for e in windowed)
    if kind == "distinct_categories":
        assert f.cap is not None
        return float(min(f.cap, len({e.category for e in windowed if e.category is not None})))
    if kind == "category_share":
        hits = sum(1 for e in windowed if e.category == f.category)
        return hits / len(windowed) if windowed else 0.0
    if kind in ("session_count", "events_per_session", "session_age_minutes"):
        return _session_feature(spec, kind, usable, inside, t)
    if kind == "cart_abandonment":
        assert f.within_hours is not None
        within = f.within_hours * 3600
        buys = [e.ts for e in usable if e.type == "purchase"]
        carts = [e.ts for e in usable if e.type == "add_to_cart" and inside(e.ts)]
        return float(
            sum(1 for c in carts if c + within <= t and not any(c <= p <= c + within for p in buys))
        )
    if kind == "offer_fatigue":
        assert f.cap is not None
        last_redeem = max((e.ts for e in usable if e.type == "redeem"), default=-math.inf)
        shown = [e for e in usable if e.type == "exposure" and inside(e.ts)]
        return float(min(f.cap, sum(1 for e in shown if e.ts > last_redeem)))
    if spec.timezone is not None:  # the zone database's wall clock (whole seconds suffice:
        # offsets and transitions are whole seconds, and this avoids datetime's µs rounding)
        wall = datetime.fromtimestamp(math.floor(t), ZoneInfo(spec.timezone))
        return float(wall.hour if kind == "hour_of_day" else wall.weekday())
    local = t + spec.utc_offset_hours * 3600
    if kind == "hour_of_day":
        return float(int((local % DAY) // 3600))
    assert kind == "day_of_week"
    return float((math.floor(local / DAY) + 3) % 7)


def _session_feature(spec: FeatureSpec, kind: str, usable: list[Ev], inside: object,
                     t: float) -> float:  # fmt: skip
    assert callable(inside)
    times = sorted(e.ts for e in usable)
    gap = spec.session_gap_minutes * 60
    starts = [ts for k, ts in enumerate(times) if k == 0 or ts - times[k - 1] > gap]
    in_window = [s for s in starts if inside(s)]
    if kind == "session_count":
        return float(len(in_window))
    if kind == "events_per_session":
        return sum(1 for ts in times if inside(ts)) / len(in_window) if in_window else 0.0
    if not times or t - times[-1] > gap:
        return 0.0
    return (t - starts[-1]) / 60.0


TYPES = ("view", "view", "add_to_cart", "purchase", "exposure", "redeem", "click", "consent")
CATEGORIES = ("grocery", "home", "beauty", None)


def random_stream(rng: random.Random, n: int, users: int, days: float, bucket: int = 3600,
                  consent_rate: float = 0.03) -> list[Ev]:  # fmt: skip
    """Events in time order: bucket-edge times, ties, categories, consents, no-consent rows."""
    out: list[Ev] = []
    edges = (0.0, -1e-6, 1e-6, -1.0, 1.0, bucket - 1.0, 1799.0, 1800.0, 1801.0)
    for _ in range(n):
        user = f"u{rng.randrange(users)}"
        kind = rng.choice(TYPES)
        if kind == "consent" and rng.random() > consent_rate * len(TYPES):
            kind = "view"
        if rng.random() < 0.3:
            ts = T0 + rng.randrange(int(days * DAY / bucket)) * bucket + rng.choice(edges)
        else:
            ts = T0 + rng.uniform(0, days * DAY)
        amount = round(rng.uniform(0, 200), 2) if kind == "purchase" else None
        flag = rng.random() > 0.08 if kind != "consent" else rng.random() < 0.5
        out.append(Ev(user, kind, ts, amount, rng.choice(CATEGORIES), flag))
    return sorted(out, key=lambda e: e.ts)


def arrive(rng: random.Random, events: list[Ev], cuts: Sequence[float]) -> list[Ev]:
    """An arrival order: events between consecutive cut times arrive shuffled."""
    ordered = sorted(events, key=lambda e: e.ts)
    out: list[Ev] = []
    bounds = [*sorted(set(cuts)), math.inf]
    lower = -math.inf
    for upper in bounds:
        chunk = [e for e in ordered if lower < e.ts <= upper]
        rng.shuffle(chunk)
        out.extend(chunk)
        lower = upper
    return out
