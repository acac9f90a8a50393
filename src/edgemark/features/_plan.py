"""A spec compiled into the layout both engines share: per-bucket columns and evaluators.

Windowed aggregates live in one matrix per user with a row per (hourly) bucket and one
column per ``Column`` key (count or amount of an event type, a decayed sum, a category
count, activity events, session starts, abandoned carts). The online engine keeps that
matrix; the batch engine builds the same columns in SQL. ``Eval`` says how one feature is
read from it (or from the small side structures: recency, categories, sessions, fatigue).
"""

from __future__ import annotations

from typing import NamedTuple

from edgemark.features._local import LocalTime
from edgemark.features._spec import (
    BEHAVIOUR_TYPES,
    DAY_SECONDS,
    SESSION_KINDS,
    Feature,
    FeatureSpec,
)

Column = tuple[str, ...]  # ("n", type) ("amt", type) ("dec", type, h) ("cat", type, c) ...


class Eval(NamedTuple):
    """How to read feature number ``pos``: matrix columns, window (buckets), one parameter."""

    kind: str
    pos: int
    window: int
    col: int
    col2: int
    param: float
    name: str  # event type (recency, categories) or category


class Update(NamedTuple):
    """What one event of a type adds to its bucket row: column and value kind."""

    col: int
    what: str  # "one", "amount" or "decay"
    half_life_s: float


class Plan:
    """The compiled layout of a ``FeatureSpec`` (see module docstring)."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.bucket = float(spec.bucket_seconds)
        self.lateness = float(spec.allowed_lateness_hours) * 3600.0
        self.gap = float(spec.session_gap_minutes) * 60.0
        self.cap_days = float(spec.recency_cap_days)
        self.offset = float(spec.utc_offset_hours) * 3600.0
        self.local = LocalTime(spec.timezone, self.offset)  # hour and weekday of a time
        self.ttl = spec.ttl_seconds
        self.columns: list[Column] = []
        self._index: dict[Column, int] = {}
        self.evals = tuple(self._eval(i, f) for i, f in enumerate(spec.features))
        kinds = {f.kind for f in spec.features}
        self.sessions = bool(kinds & SESSION_KINDS)
        self.act_col = self.column(("act",)) if self.sessions else -1
        self.updates = {t: self._updates(t) for t in BEHAVIOUR_TYPES}
        self.category_cols = {
            t: {c[2]: j for c, j in self._index.items() if c[0] == "cat" and c[1] == t}
            for t in BEHAVIOUR_TYPES
        }
        self.recency_types = frozenset(e.name for e in self.evals if e.kind == "recency_days")
        self.category_caps: dict[str, int] = {}
        for e in self.evals:
            if e.kind == "distinct_categories":
                cap = max(self.category_caps.get(e.name, 0), int(e.param))
                self.category_caps[e.name] = cap
        self.carts = tuple(sorted({e.param for e in self.evals if e.kind == "cart_abandonment"}))
        self.abandon_cols = {a: self._index[("abandon", _key(a))] for a in self.carts}
        fatigue = [e for e in self.evals if e.kind == "offer_fatigue"]
        self.fatigue_cap = max((int(e.param) for e in fatigue), default=0)
        self.fatigue_window = max((e.window for e in fatigue), default=0)
        self.start_col = self._index.get(("start",), -1)
        self.windows = tuple(sorted({e.window for e in self.evals if e.window > 0}))
        self.max_window = max(self.windows, default=0)
        self.defaults = [self.cap_days if e.kind == "recency_days" else 0.0 for e in self.evals]

    @property
    def width(self) -> int:
        """Number of matrix columns."""
        return len(self.columns)

    def column(self, key: Column) -> int:
        """Index of the matrix column ``key`` (allocated on first use)."""
        if key not in self._index:
            self._index[key] = len(self.columns)
            self.columns.append(key)
        return self._index[key]

    def _eval(self, pos: int, f: Feature) -> Eval:
        spec = self.spec
        window = spec.window_buckets(f) if f.window_days is not None else 0
        t = f.event_type or ""
        col = col2 = -1
        param = 0.0
        name = t
        if f.kind in ("count", "sum_amount"):
            col = self.column(("n", t) if f.kind == "count" else ("amt", t))
        elif f.kind == "mean_amount":
            col, col2 = self.column(("amt", t)), self.column(("n", t))
        elif f.kind == "decayed_count":
            assert f.half_life_days is not None  # checked by Feature
            param = float(f.half_life_days) * DAY_SECONDS
            col = self.column(("dec", t, _key(param)))
        elif f.kind == "category_share":
            assert f.category is not None
            col, col2, name = self.column(("cat", t, f.category)), self.column(("n", t)), f.category
        elif f.kind == "session_count":
            col = self.column(("start",))
        elif f.kind == "events_per_session":
            col, col2 = self.column(("act",)), self.column(("start",))
        elif f.kind == "cart_abandonment":
            assert f.within_hours is not None
            param = float(f.within_hours) * 3600.0
            col = self.column(("abandon", _key(param)))
        elif f.kind in ("distinct_categories", "offer_fatigue"):
            param = float(f.cap or 0)
        return Eval(f.kind, pos, window, col, col2, param, name)

    def _updates(self, event_type: str) -> tuple[Update, ...]:
        out: list[Update] = []
        for key, j in self._index.items():
            if len(key) > 1 and key[1] == event_type:
                if key[0] == "n":
                    out.append(Update(j, "one", 0.0))
                elif key[0] == "amt":
                    out.append(Update(j, "amount", 0.0))
                elif key[0] == "dec":
                    out.append(Update(j, "decay", float(key[2])))
        if self.sessions:
            out.append(Update(self.act_col, "one", 0.0))
        return tuple(out)


def _key(seconds: float) -> str:
    """A column key for a duration: its repr, so it round-trips to the same float."""
    return repr(float(seconds))
