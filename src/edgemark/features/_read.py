"""Reading one user's feature vector from online state (the decision hot path).

One numpy pass sums the bucket rows of every window at once (windows are nested, so a
reversed cumulative sum answers all of them); the side structures are read in plain
Python. Every entry is a Python float, so ``np.array`` of the result is float64.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np

from edgemark.features._plan import Eval, Plan
from edgemark.features._spec import DAY_SECONDS
from edgemark.features._state import UserState


def context_values(plan: Plan, t: float) -> tuple[float, float]:
    """Hour of day and day of week (Monday = 0) of ``t`` at the spec's UTC offset."""
    local = t + plan.offset
    day = math.floor(local / DAY_SECONDS)
    return float(math.floor((local - day * DAY_SECONDS) / 3600.0)), float((day + 3) % 7)


def read_vector(plan: Plan, state: UserState | None, t: float) -> list[float]:
    """The feature values of ``state`` as of ``t`` (defaults when None or revoked)."""
    vals = plan.defaults.copy()
    hour, weekday = context_values(plan, t)
    usable = (
        state is not None
        and (state.consent_eff is None or state.consent_granted)
        and t - state.wm <= plan.ttl
    )
    cur = math.floor(t / plan.bucket)
    sums, starts, top = _window_sums(plan, state, cur) if usable else ({}, {}, 0)
    for e in plan.evals:
        kind = e.kind
        if kind == "hour_of_day":
            vals[e.pos] = hour
        elif kind == "day_of_week":
            vals[e.pos] = weekday
        elif not usable:
            continue
        elif kind in _MATRIX:
            assert state is not None
            vals[e.pos] = _matrix_value(plan, state, e, sums, starts, top, cur, t)
        else:
            assert state is not None
            vals[e.pos] = _side_value(plan, state, e, cur, t)
    return vals


_MATRIX = frozenset(
    {
        "count",
        "sum_amount",
        "mean_amount",
        "decayed_count",
        "category_share",
        "session_count",
        "events_per_session",
        "cart_abandonment",
    }
)
_Sums = dict[int, list[float]]


def _window_sums(
    plan: Plan, state: UserState | None, cur: int
) -> tuple[_Sums, dict[int, int], int]:
    """Column sums of the rows inside each window, the first row of each window, top row."""
    if state is None or state.idx is None or state.data is None or state.hi == state.lo:
        zeros = [0.0] * plan.width
        return {w: zeros for w in plan.windows}, {w: 0 for w in plan.windows}, 0
    idx = state.idx[state.lo : state.hi]
    data = state.data[state.lo : state.hi]
    top = len(idx) if idx[-1] <= cur else int(np.searchsorted(idx, cur, "right"))
    if not plan.windows:
        return {}, {}, top
    firsts = np.searchsorted(idx[:top], cur - np.asarray(plan.windows), "right").tolist()
    if top == 0:
        zeros = [0.0] * plan.width
        return {w: zeros for w in plan.windows}, dict(zip(plan.windows, firsts, strict=True)), 0
    suffix = np.cumsum(data[top - 1 :: -1] if top else data[:0], axis=0)
    picks = [top - f - 1 for f in firsts]
    rows = suffix[[max(p, 0) for p in picks]].tolist()
    zeros = [0.0] * plan.width
    sums = {
        w: (row if p >= 0 else zeros) for w, row, p in zip(plan.windows, rows, picks, strict=True)
    }
    return sums, dict(zip(plan.windows, firsts, strict=True)), top


def _matrix_value(
    plan: Plan,
    state: UserState,
    e: Eval,
    sums: _Sums,
    starts: dict[int, int],
    top: int,
    cur: int,
    t: float,
) -> float:
    kind, s = e.kind, sums[e.window]
    if kind in ("count", "sum_amount"):
        return s[e.col]
    if kind in ("mean_amount", "category_share"):
        n = s[e.col2]
        return s[e.col] / n if n else 0.0
    if kind == "decayed_count":
        first = starts[e.window]
        if first >= top or state.idx is None or state.data is None:
            return 0.0
        rows = slice(state.lo + first, state.lo + top)
        weights = np.exp2((state.idx[rows] * plan.bucket - t) / e.param)
        return float(np.dot(state.data[rows, e.col], weights))
    edge = (cur - e.window + 1) * plan.bucket  # first instant inside the window
    if kind == "cart_abandonment":
        pending = state.carts.get(e.param, [])
        late = sum(1 for c in pending[bisect_left(pending, edge) :] if c + e.param <= t)
        return s[e.col] + late
    open_starts = sum(1 for start, _ in state.sessions if edge <= start <= t)
    if kind == "session_count":
        return s[e.col] + open_starts
    sessions = s[e.col2] + open_starts  # events_per_session
    return s[e.col] / sessions if sessions else 0.0


def _side_value(plan: Plan, state: UserState, e: Eval, cur: int, t: float) -> float:
    kind = e.kind
    if kind == "recency_days":
        last = state.last.get(e.name)
        if last is None:
            return plan.cap_days
        days = (t - last) / DAY_SECONDS
        return plan.cap_days if days > plan.cap_days else (days if days > 0.0 else 0.0)
    edge = (cur - e.window + 1) * plan.bucket
    if kind == "distinct_categories":
        seen = state.cats.get(e.name, {})
        return float(min(int(e.param), sum(1 for v in seen.values() if edge <= v <= t)))
    if kind == "offer_fatigue":
        exposures = state.exposures
        inside = sum(1 for x in exposures[bisect_left(exposures, edge) :] if x <= t)
        return float(min(int(e.param), inside))
    # session_age_minutes: the session open at t (its last event at most one gap ago)
    sessions = state.sessions
    if sessions and sessions[-1][1] <= t and t - sessions[-1][1] <= plan.gap:
        return (t - sessions[-1][0]) / 60.0
    return 0.0
