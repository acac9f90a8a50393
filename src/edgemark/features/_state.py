"""The online state of one user: the bucket matrix and the small side structures.

Everything here is bounded: matrix rows cover at most the longest window (older rows are
dropped as the user's newest event time advances), sessions and pending carts only the
allowed lateness plus the session gap or cart horizon, categories and exposures at most
their caps. Late events (within the allowed lateness) are placed exactly: rows are inserted
in order, sessions merge, carts convert. ``to_dict``/``from_dict`` make it JSON-safe.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import FeatureError

_INF = math.inf


class UserState:
    """Mutable state of one user (see module docstring); the engine drives it."""

    __slots__ = (
        "carts",
        "cats",
        "consent_eff",
        "consent_granted",
        "data",
        "exposures",
        "hi",
        "idx",
        "kill",
        "last",
        "lo",
        "memo",
        "purchases",
        "redeem",
        "sessions",
        "wm",
    )

    def __init__(self) -> None:
        self.wm = -_INF  # newest event time seen (any type, any consent)
        self.kill = -_INF  # events at or before this time were revoked
        self.consent_eff: float | None = None  # latest consent event (effective time) ...
        self.consent_granted = True  # ... and whether it granted personalization
        self.reset()

    def reset(self) -> None:
        """Forget every feature input (a consent revocation); keep wm and consent."""
        self.memo: Any = None  # the reader's per-bucket values; dropped on every change
        self.idx: npt.NDArray[np.int64] | None = None
        self.data: npt.NDArray[np.float64] | None = None
        self.lo = self.hi = 0
        self.last: dict[str, float] = {}
        self.cats: dict[str, dict[str, float]] = {}
        self.sessions: list[list[float]] = []
        self.carts: dict[float, list[float]] = {}
        self.purchases: list[float] = []
        self.exposures: list[float] = []
        self.redeem = -_INF

    # -- the bucket matrix ----------------------------------------------------------------
    def row(self, bucket: int, width: int, dead: int) -> int:
        """Index of ``bucket``'s row (inserted if new); -1 when ``bucket <= dead`` (outside
        every window from now on)."""
        lo, hi = self.lo, self.hi
        if hi > lo and self.idx is not None:
            last = int(self.idx[hi - 1])
            if bucket == last:
                return hi - 1
            if bucket < last:
                if bucket <= dead:
                    return -1
                pos = lo + int(np.searchsorted(self.idx[lo:hi], bucket))
                if int(self.idx[pos]) == bucket:
                    return pos
                return self._insert(pos, bucket, width)
        if bucket <= dead:
            return -1
        self.evict(dead)
        if self.idx is None or self.hi == len(self.idx):
            self._grow(width)
        assert self.idx is not None and self.data is not None
        self.idx[self.hi] = bucket
        self.data[self.hi] = 0.0
        self.hi += 1
        return self.hi - 1

    def _insert(self, pos: int, bucket: int, width: int) -> int:
        if self.idx is None or self.hi == len(self.idx):
            offset = self.lo
            self._grow(width)
            pos -= offset
        assert self.idx is not None and self.data is not None
        hi = self.hi
        self.idx[pos + 1 : hi + 1] = self.idx[pos:hi]  # numpy copies overlapping slices safely
        self.data[pos + 1 : hi + 1] = self.data[pos:hi]
        self.idx[pos] = bucket
        self.data[pos] = 0.0
        self.hi = hi + 1
        return pos

    def _grow(self, width: int) -> None:
        """Compact the live rows to the front of arrays twice their number (amortised O(1))."""
        n = self.hi - self.lo
        idx = np.zeros(max(4, 2 * n), dtype=np.int64)
        data = np.zeros((len(idx), width), dtype=np.float64)
        if n and self.idx is not None and self.data is not None:
            idx[:n] = self.idx[self.lo : self.hi]
            data[:n] = self.data[self.lo : self.hi]
        self.idx, self.data, self.lo, self.hi = idx, data, 0, n

    def evict(self, dead: int) -> None:
        """Drop rows at or below bucket ``dead`` from the front."""
        idx, lo, hi = self.idx, self.lo, self.hi
        if idx is None:
            return
        while lo < hi and idx[lo] <= dead:
            lo += 1
        self.lo, self.hi = (0, 0) if lo == hi else (lo, hi)

    def rows(self) -> int:
        """Number of live matrix rows."""
        return self.hi - self.lo

    # -- sessions -------------------------------------------------------------------------
    def add_to_sessions(self, ts: float, gap: float) -> None:
        """Put an activity event into the (sorted, disjoint) open sessions, merging them."""
        sessions = self.sessions
        if not sessions or ts > sessions[-1][1] + gap:
            sessions.append([ts, ts])
            return
        first = bisect_left(sessions, ts - gap, key=lambda s: s[1])
        last = bisect_right(sessions, ts + gap, key=lambda s: s[0]) - 1
        if first > last:
            sessions.insert(first, [ts, ts])
            return
        merged = [min(sessions[first][0], ts), max(sessions[last][1], ts)]
        sessions[first : last + 1] = [merged]

    # -- carts and purchases --------------------------------------------------------------
    def add_cart(self, ts: float, horizons: tuple[float, ...]) -> None:
        """A cart is pending unless a purchase within each horizon already converted it."""
        purchases = self.purchases
        k = bisect_left(purchases, ts)
        for within in horizons:
            if k < len(purchases) and purchases[k] <= ts + within:
                continue
            insort(self.carts.setdefault(within, []), ts)

    def add_purchase(self, ts: float, horizons: tuple[float, ...]) -> None:
        """Record a purchase and convert the pending carts it follows within each horizon."""
        insort(self.purchases, ts)
        for within in horizons:
            pending = self.carts.get(within)
            if pending:
                del pending[bisect_left(pending, ts - within) : bisect_right(pending, ts)]

    # -- categories and fatigue -----------------------------------------------------------
    def add_category(self, event_type: str, category: str, ts: float, cap: int) -> None:
        """Keep the ``cap`` categories seen most recently (with their newest time)."""
        seen = self.cats.setdefault(event_type, {})
        if category in seen:
            if ts > seen[category]:
                seen[category] = ts
            return
        if len(seen) >= cap:
            oldest = min(seen, key=seen.__getitem__)
            if ts <= seen[oldest]:
                return
            del seen[oldest]
        seen[category] = ts

    def add_exposure(self, ts: float, cap: int) -> None:
        """Keep the ``cap`` newest exposures after the last redeem."""
        if ts <= self.redeem:
            return
        insort(self.exposures, ts)
        if len(self.exposures) > cap:
            del self.exposures[0]

    def add_redeem(self, ts: float) -> None:
        """A redeem resets fatigue: exposures at or before it stop counting."""
        if ts > self.redeem:
            self.redeem = ts
            del self.exposures[: bisect_right(self.exposures, ts)]

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the state (infinities as None)."""
        rows: list[list[float]] = []
        if self.idx is not None and self.data is not None and self.hi > self.lo:
            ids = self.idx[self.lo : self.hi].tolist()
            values = self.data[self.lo : self.hi].tolist()
            rows = [[float(i), *v] for i, v in zip(ids, values, strict=True)]
        return {
            "wm": _num(self.wm),
            "kill": _num(self.kill),
            "consent": None
            if self.consent_eff is None
            else [self.consent_eff, self.consent_granted],
            "rows": rows,
            "last": dict(self.last),
            "cats": {t: dict(c) for t, c in self.cats.items()},
            "sessions": [list(s) for s in self.sessions],
            "carts": {repr(a): list(c) for a, c in self.carts.items()},
            "purchases": list(self.purchases),
            "exposures": list(self.exposures),
            "redeem": _num(self.redeem),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], width: int) -> UserState:
        """Rebuild a state from ``to_dict`` output (``FeatureError`` when malformed)."""
        state = cls()
        try:
            state.wm, state.kill, state.redeem = (_inf(d[k]) for k in ("wm", "kill", "redeem"))
            if d["consent"] is not None:
                state.consent_eff = float(d["consent"][0])
                state.consent_granted = bool(d["consent"][1])
            rows = d["rows"]
            if rows:
                if any(len(r) != width + 1 for r in rows):
                    raise ValueError(f"matrix rows must hold {width + 1} numbers")
                state.idx = np.array([int(r[0]) for r in rows], dtype=np.int64)
                state.data = np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, width)
                state.hi = len(rows)
            state.last = {str(t): float(v) for t, v in d["last"].items()}
            state.cats = {
                str(t): {str(c): float(v) for c, v in m.items()} for t, m in d["cats"].items()
            }
            state.sessions = [[float(s), float(e)] for s, e in d["sessions"]]
            state.carts = {float(a): [float(x) for x in c] for a, c in d["carts"].items()}
            state.purchases = [float(x) for x in d["purchases"]]
            state.exposures = [float(x) for x in d["exposures"]]
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise FeatureError(f"feature state for a user is malformed: {exc!r}") from exc
        return state


def _num(value: float) -> float | None:
    return None if math.isinf(value) else value


def _inf(value: object) -> float:
    return -_INF if value is None else float(value)  # type: ignore[arg-type]
