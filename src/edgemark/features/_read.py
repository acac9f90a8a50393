"""Reading one user's feature vector from online state (the decision hot path).

One numpy pass sums the bucket rows of every window at once (windows are nested, so a
reversed cumulative sum answers all of them); features are then read in groups of one kind
(precomputed tuples, plain Python floats), so the cost is a few numpy calls plus a short
loop. Every entry is a Python float, so ``np.array`` of the result is float64.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

from edgemark.features._plan import Eval, Plan
from edgemark.features._spec import DAY_SECONDS
from edgemark.features._state import UserState


class Reader:
    """The evaluators of a plan grouped by kind (built once per engine)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

        def of(*kinds: str) -> list[Eval]:
            return [e for e in plan.evals if e.kind in kinds]

        self.sums = [(e.pos, e.window, e.col) for e in of("count", "sum_amount")]
        self.ratios = [
            (e.pos, e.window, e.col, e.col2) for e in of("mean_amount", "category_share")
        ]
        self.decays = [(e.pos, e.window, e.col, e.param) for e in of("decayed_count")]
        self.session_counts = [(e.pos, e.window, e.col) for e in of("session_count")]
        self.per_session = [(e.pos, e.window, e.col, e.col2) for e in of("events_per_session")]
        self.carts = [(e.pos, e.window, e.col, e.param) for e in of("cart_abandonment")]
        self.recency = [(e.pos, e.name) for e in of("recency_days")]
        self.distinct = [(e.pos, e.window, e.name, int(e.param)) for e in of("distinct_categories")]
        self.fatigue = [(e.pos, e.window, int(e.param)) for e in of("offer_fatigue")]
        self.age = [e.pos for e in of("session_age_minutes")]
        self.hour = [e.pos for e in of("hour_of_day")]
        self.weekday = [e.pos for e in of("day_of_week")]
        self.windows = np.asarray(plan.windows, dtype=np.int64)


def context_values(plan: Plan, t: float) -> tuple[float, float]:
    """Hour of day and day of week (Monday = 0) of ``t`` at the spec's UTC offset."""
    local = t + plan.offset
    day = math.floor(local / DAY_SECONDS)
    return float(math.floor((local - day * DAY_SECONDS) / 3600.0)), float((day + 3) % 7)


def read_vector(reader: Reader, state: UserState | None, t: float) -> list[float]:
    """The feature values of ``state`` as of ``t`` (defaults when None, revoked or idle)."""
    plan = reader.plan
    vals = plan.defaults.copy()
    if reader.hour or reader.weekday:
        hour, weekday = context_values(plan, t)
        for pos in reader.hour:
            vals[pos] = hour
        for pos in reader.weekday:
            vals[pos] = weekday
    if state is None or not state.consent_granted or t - state.wm > plan.ttl:
        return vals
    cur = math.floor(t / plan.bucket)
    _read_matrix(reader, state, cur, t, vals)
    _read_side(reader, state, cur, t, vals)
    return vals


def _read_matrix(reader: Reader, state: UserState, cur: int, t: float, vals: list[float]) -> None:
    plan = reader.plan
    windows = plan.windows
    zeros = [0.0] * plan.width
    if state.idx is None or state.data is None or state.hi == state.lo:
        # No rows yet: pending carts and open sessions may still count.
        idx, data, top = np.zeros(0, dtype=np.int64), np.zeros((0, plan.width)), 0
        firsts = [0] * len(windows)
    else:
        idx = state.idx[state.lo : state.hi]
        data = state.data[state.lo : state.hi]
        top = len(idx) if idx[-1] <= cur else int(np.searchsorted(idx, cur, "right"))
        firsts = np.searchsorted(idx[:top], cur - reader.windows, "right").tolist()
    first = dict(zip(windows, firsts, strict=True))
    if top:
        suffix = np.cumsum(data[top - 1 :: -1], axis=0)
        rows = suffix[[max(top - f - 1, 0) for f in firsts]].tolist()
        sums = {w: (r if f < top else zeros) for w, r, f in zip(windows, rows, firsts, strict=True)}
    else:
        sums = dict.fromkeys(windows, zeros)
    for pos, w, col in reader.sums:
        vals[pos] = sums[w][col]
    for pos, w, col, col2 in reader.ratios:
        n = sums[w][col2]
        vals[pos] = sums[w][col] / n if n else 0.0
    for pos, w, col, half_life in reader.decays:
        lo = first[w]
        if lo < top:
            weights = np.exp2((idx[lo:top] * plan.bucket - t) / half_life)
            vals[pos] = float(np.dot(data[lo:top, col], weights))
    if reader.session_counts or reader.per_session:
        for pos, w, col in reader.session_counts:
            vals[pos] = sums[w][col] + _open_starts(state, (cur - w + 1) * plan.bucket, t)
        for pos, w, col, col2 in reader.per_session:
            sessions = sums[w][col2] + _open_starts(state, (cur - w + 1) * plan.bucket, t)
            vals[pos] = sums[w][col] / sessions if sessions else 0.0
    for pos, w, col, within in reader.carts:
        pending = state.carts.get(within, [])
        edge = (cur - w + 1) * plan.bucket
        late = sum(1 for c in pending[bisect_left(pending, edge) :] if c + within <= t)
        vals[pos] = sums[w][col] + late


def _open_starts(state: UserState, edge: float, t: float) -> int:
    return sum(1 for start, _ in state.sessions if edge <= start <= t)


def _read_side(reader: Reader, state: UserState, cur: int, t: float, vals: list[float]) -> None:
    plan = reader.plan
    cap = plan.cap_days
    for pos, event_type in reader.recency:
        last = state.last.get(event_type)
        if last is not None:
            days = (t - last) / DAY_SECONDS
            vals[pos] = cap if days > cap else (days if days > 0.0 else 0.0)
    for pos, w, event_type, most in reader.distinct:
        edge = (cur - w + 1) * plan.bucket
        seen = state.cats.get(event_type)
        if seen:
            vals[pos] = float(min(most, sum(1 for v in seen.values() if edge <= v <= t)))
    for pos, w, most in reader.fatigue:
        exposures = state.exposures
        if exposures:
            edge = (cur - w + 1) * plan.bucket
            inside = sum(1 for x in exposures[bisect_left(exposures, edge) :] if x <= t)
            vals[pos] = float(min(most, inside))
    if reader.age and state.sessions:
        start, end = state.sessions[-1]
        if end <= t and t - end <= plan.gap:  # a session is open: its last event one gap ago
            for pos in reader.age:
                vals[pos] = (t - start) / 60.0
