"""Reading one user's feature vector from online state (the decision hot path).

Everything that depends only on the user's state and the bucket of ``t`` (window sums,
ratios, the decayed sums up to the bucket's start) is computed once per (state, bucket)
and kept on the state (``UserState.memo``; every change to the state drops it). A read
then copies that template and fills in what moves with ``t`` itself (decay factor,
recency, open sessions, carts coming due, categories, fatigue, hour and weekday) in plain
Python floats. The per-bucket part is one numpy pass: windows are nested, so a reversed
cumulative sum answers all of them.
"""

from __future__ import annotations

import math
from bisect import bisect_left

import numpy as np
import numpy.typing as npt

from edgemark.features._plan import Eval, Plan
from edgemark.features._spec import DAY_SECONDS
from edgemark.features._state import UserState

_NEVER = 2**62


class Reader:
    """The evaluators of a plan grouped by kind (built once per engine).

    Windows are referred to by their index in ``plan.windows``.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        at = {w: i for i, w in enumerate(plan.windows)}

        def of(*kinds: str) -> list[Eval]:
            return [e for e in plan.evals if e.kind in kinds]

        self.sums = [(e.pos, at[e.window], e.col) for e in of("count", "sum_amount")]
        self.ratios = [
            (e.pos, at[e.window], e.col, e.col2) for e in of("mean_amount", "category_share")
        ]
        self.decays = [(e.pos, at[e.window], e.col, e.param) for e in of("decayed_count")]
        self.session_counts = [(e.pos, e.window, at[e.window], e.col) for e in of("session_count")]
        self.per_session = [
            (e.pos, e.window, at[e.window], e.col, e.col2) for e in of("events_per_session")
        ]
        self.carts = [
            (e.pos, e.window, at[e.window], e.col, e.param) for e in of("cart_abandonment")
        ]
        self.recency = [(e.pos, e.name) for e in of("recency_days")]
        self.distinct = [(e.pos, e.window, e.name, int(e.param)) for e in of("distinct_categories")]
        self.fatigue = [(e.pos, e.window, int(e.param)) for e in of("offer_fatigue")]
        self.age = [e.pos for e in of("session_age_minutes")]
        self.hour = [e.pos for e in of("hour_of_day")]
        self.weekday = [e.pos for e in of("day_of_week")]
        self.context = plan.local.context  # hour and weekday of t
        self.windows = np.asarray(plan.windows, dtype=np.int64)
        self.zeros = [0.0] * plan.width
        self.no_sums = [self.zeros] * len(plan.windows)


class Memo:
    """What a read needs from one state in one bucket (see the module docstring)."""

    __slots__ = ("anchor", "base", "cur", "decayed", "expires", "firsts", "sums", "top")

    def __init__(
        self,
        cur: int,
        base: list[float],
        sums: list[list[float]],
        decayed: list[float],
        anchor: float = 0.0,
        top: int = 0,
        firsts: list[int] | None = None,
        expires: int = 0,
    ) -> None:
        self.cur = cur
        self.expires = max(expires, cur + 1)  # valid for buckets cur .. expires - 1
        self.base = base  # the vector with every per-bucket value filled in
        self.sums = sums  # column sums per window (for the session and cart features)
        self.decayed = decayed  # per decay feature: the sum as of ``anchor`` (seconds)
        self.anchor = anchor
        self.top = top  # rows at or before the bucket and the first row of each window
        self.firsts = firsts


def read_vector(reader: Reader, state: UserState | None, t: float) -> list[float]:
    """The feature values of ``state`` as of ``t`` (defaults when None, revoked or idle)."""
    plan = reader.plan
    if state is None or not state.consent_granted or t - state.wm > plan.ttl:
        vals = plan.defaults.copy()
    else:
        cur = math.floor(t / plan.bucket)
        memo = state.memo
        if memo is None or not memo.cur <= cur < memo.expires:
            memo = state.memo = _bucket_part(reader, state, cur, memo)
        vals = memo.base.copy()
        if t < state.wm:  # reading the past: counts of what happened by t only
            _counts(reader, state, memo.sums, cur, t, vals)
        _read_moving(reader, state, memo, cur, t, vals)
    if reader.hour or reader.weekday:
        hour, weekday = reader.context(t)
        for pos in reader.hour:
            vals[pos] = hour
        for pos in reader.weekday:
            vals[pos] = weekday
    return vals


def warm(reader: Reader, state: UserState, t: float) -> None:
    """Compute and keep what every read of ``state`` in the bucket of ``t`` shares."""
    if state.consent_granted and t - state.wm <= reader.plan.ttl:
        cur = math.floor(t / reader.plan.bucket)
        memo = state.memo
        if memo is None or not memo.cur <= cur < memo.expires:
            state.memo = _bucket_part(reader, state, cur, memo)


def _bucket_part(reader: Reader, state: UserState, cur: int, old: Memo | None) -> Memo:
    """Window sums, ratios and decayed sums of ``state`` for bucket ``cur`` (numpy, once),
    and the counts of sessions, categories and exposures as of any ``t >= state.wm``.

    ``old`` is the memo of an earlier bucket of the same (unchanged) state: when no row
    entered or left a window between the two buckets, its sums still hold (only the counts
    move with the bucket). Nothing bulky is kept: a memo is a few short lists."""
    plan = reader.plan
    vals = plan.defaults.copy()
    sums = reader.no_sums
    decayed = [0.0] * len(reader.decays)
    top, firsts, anchor, idx = 0, None, 0.0, None
    if state.idx is not None and state.data is not None and state.hi > state.lo:
        idx = state.idx[state.lo : state.hi]
        data = state.data[state.lo : state.hi]
        top = len(idx) if idx[-1] <= cur else int(np.searchsorted(idx, cur, "right"))
        if top:
            firsts = np.searchsorted(idx[:top], cur - reader.windows, "right").tolist()
            if old is not None and old.top == top and old.firsts == firsts:
                # The same rows in every window: only the counts moved with the bucket.
                vals = old.base.copy()
                _counts(reader, state, old.sums, cur, state.wm, vals)
                end = _expiry(reader, state, cur, idx, top, firsts)
                return Memo(cur, vals, old.sums, old.decayed, old.anchor, top, firsts, end)
            suffix = np.cumsum(data[top - 1 :: -1], axis=0)
            sums = [suffix[top - f - 1].tolist() if f < top else reader.zeros for f in firsts]
            anchor = float(idx[top - 1]) * plan.bucket
            _decayed(reader, idx, data, int(idx[top - 1]), top, firsts, decayed)
    for pos, w, col in reader.sums:
        vals[pos] = sums[w][col]
    for pos, w, col, col2 in reader.ratios:
        n = sums[w][col2]
        vals[pos] = sums[w][col] / n if n else 0.0
    for pos, _w, k, col, _within in reader.carts:
        vals[pos] = sums[k][col]  # carts that come due by t are added per read
    _counts(reader, state, sums, cur, state.wm, vals)
    end = _expiry(reader, state, cur, idx, top, firsts)
    return Memo(cur, vals, sums, decayed, anchor, top, firsts, end)


def _expiry(
    reader: Reader,
    state: UserState,
    cur: int,
    idx: npt.NDArray[np.int64] | None,
    top: int,
    firsts: list[int] | None,
) -> int:
    """The first bucket after ``cur`` in which a kept value may change: a row enters or
    leaves a window, or a counted session, category or exposure leaves one (reads at or
    after ``state.wm``; the state itself does not change, or the memo is dropped)."""
    plan = reader.plan
    bucket = plan.bucket
    end = _NEVER
    if idx is not None:
        if top < len(idx):
            end = int(idx[top])
        for w, first in zip(plan.windows, firsts or (), strict=False):
            if first < top:
                end = min(end, int(idx[first]) + w)
    # Side structures leave a window at floor(ts / bucket) + w; one bucket early is safe.
    if state.sessions:
        for _pos, w, *_rest in (*reader.session_counts, *reader.per_session):
            edge = (cur - w + 1) * bucket
            for start, _end in state.sessions:
                if start >= edge:
                    end = min(end, math.floor(start / bucket) + w - 1)
                    break
    if state.cats:
        for _pos, w, event_type, _most in reader.distinct:
            edge = (cur - w + 1) * bucket
            counted = [v for v in state.cats.get(event_type, {}).values() if v >= edge]
            if counted:
                end = min(end, math.floor(min(counted) / bucket) + w - 1)
    exposures = state.exposures
    if exposures:
        for _pos, w, _most in reader.fatigue:
            first_in = bisect_left(exposures, (cur - w + 1) * bucket)
            if first_in < len(exposures):
                end = min(end, math.floor(exposures[first_in] / bucket) + w - 1)
    return end


def _decayed(
    reader: Reader,
    idx: npt.NDArray[np.int64],
    data: npt.NDArray[np.float64],
    cur: int,
    top: int,
    firsts: list[int],
    out: list[float],
) -> None:
    """Each decay feature's sum as of the start of bucket ``cur`` (the newest row's, so
    it stays valid in later buckets until a row leaves the window)."""
    if not reader.decays:
        return
    lo = min(firsts[w] for _pos, w, _col, _h in reader.decays)
    if lo >= top:
        return
    # (idx - cur) * bucket is exact, so this equals (idx * bucket - start) bit for bit.
    ages = (idx[lo:top] - cur) * reader.plan.bucket
    for k, (_pos, w, col, half_life) in enumerate(reader.decays):
        first = firsts[w]
        if first < top:
            weights = np.exp2(ages[first - lo :] / half_life)
            out[k] = float(np.dot(data[first:top, col], weights))


def _counts(
    reader: Reader, state: UserState, sums: list[list[float]], cur: int, t: float, vals: list[float]
) -> None:
    """Sessions, distinct categories and fatigue as of ``t`` (all fixed once ``t >= wm``)."""
    bucket = reader.plan.bucket
    if state.sessions:
        for pos, w, k, col in reader.session_counts:
            vals[pos] = sums[k][col] + _open_starts(state, (cur - w + 1) * bucket, t)
        for pos, w, k, col, col2 in reader.per_session:
            sessions = sums[k][col2] + _open_starts(state, (cur - w + 1) * bucket, t)
            vals[pos] = sums[k][col] / sessions if sessions else 0.0
    else:
        for pos, _w, k, col in reader.session_counts:
            vals[pos] = sums[k][col]
        for pos, _w, k, col, col2 in reader.per_session:
            sessions = sums[k][col2]
            vals[pos] = sums[k][col] / sessions if sessions else 0.0
    if state.cats:
        for pos, w, event_type, most in reader.distinct:
            edge = (cur - w + 1) * bucket
            seen = state.cats.get(event_type)
            if seen:
                vals[pos] = float(min(most, sum(1 for v in seen.values() if edge <= v <= t)))
    exposures = state.exposures
    if exposures:
        for pos, w, most in reader.fatigue:
            edge = (cur - w + 1) * bucket
            inside = sum(1 for x in exposures[bisect_left(exposures, edge) :] if x <= t)
            vals[pos] = float(min(most, inside))


def _read_moving(
    reader: Reader, state: UserState, memo: Memo, cur: int, t: float, vals: list[float]
) -> None:
    """The values that move with ``t`` itself: decay, carts coming due, recency, session age."""
    plan = reader.plan
    if reader.decays:
        anchor = memo.anchor
        for (pos, _w, _col, half_life), total in zip(reader.decays, memo.decayed, strict=True):
            if total:
                vals[pos] = total * 2.0 ** ((anchor - t) / half_life)
    if state.carts:
        for pos, w, _k, _col, within in reader.carts:
            pending = state.carts.get(within)
            if pending:
                edge = (cur - w + 1) * plan.bucket
                vals[pos] += sum(
                    1 for c in pending[bisect_left(pending, edge) :] if c + within <= t
                )
    if state.last:
        cap = plan.cap_days
        for pos, event_type in reader.recency:
            last = state.last.get(event_type)
            if last is not None:
                days = (t - last) / DAY_SECONDS
                vals[pos] = cap if days > cap else (days if days > 0.0 else 0.0)
    if reader.age and state.sessions:
        start, end = state.sessions[-1]
        if end <= t and t - end <= plan.gap:  # a session is open: its last event one gap ago
            for pos in reader.age:
                vals[pos] = (t - start) / 60.0


def _open_starts(state: UserState, edge: float, t: float) -> int:
    return sum(1 for start, _ in state.sessions if edge <= start <= t)
