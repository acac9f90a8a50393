"""The online feature engine: incremental per-user state that the edge updates and reads.

Core only (stdlib + numpy). Per user and event type it keeps hourly buckets (count, amount
sum) over the longest window, the last timestamp, and decayed accumulators; ``vector`` is on
the decision hot path, so it walks precomputed plans over plain Python floats.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import FeatureError
from edgemark.features._spec import DAY_SECONDS, FeatureSpec

STATE_VERSION = 1

Bucket = tuple[int, int, float]  # (bucket index, event count, amount sum)


class _UserState:
    """Mutable state of one user: buckets and last ts per event type, decayed accumulators."""

    __slots__ = ("buckets", "decay", "last")

    def __init__(self, n_decay: int) -> None:
        self.buckets: dict[str, list[Bucket]] = {}
        self.last: dict[str, float] = {}
        self.decay: list[list[float]] = [[0.0, -math.inf] for _ in range(n_decay)]


# How to read the count/sum features of one event type from its buckets: (event type,
# distinct windows in buckets ascending (nested ranges), outputs (position in the vector,
# window index, 0 for the count or 1 for the amount sum)).
_BucketPlan = tuple[str, tuple[int, ...], tuple[tuple[int, int, int], ...]]


class OnlineFeatures:
    """Incremental features per user, equal to the batch engine's (parity is tested).

    ``vector(user, t)`` is exact when every event of the user observed so far has
    ``ts <= t`` (events are observed after they happen; decisions are made now). Buckets of
    events later than ``t`` are left out; recency never goes below 0.

    Examples
    --------
    >>> from edgemark.features import DEFAULT_SPEC
    >>> online = OnlineFeatures(DEFAULT_SPEC)
    >>> online.update("u1", "purchase", 86400.0 * 100, amount=20.0)
    >>> online.vector("u1", 86400.0 * 101).tolist()
    [1.0, 1.0, 1.0, 20.0, 20.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._bucket = float(spec.bucket_seconds)
        self._cap = float(spec.recency_cap_days)
        self._hash = spec.spec_hash()
        self._users: dict[str, _UserState] = {}
        self._plan()

    def _plan(self) -> None:
        spec = self.spec
        windows: dict[str, set[int]] = {}
        for f in spec.features:
            if f.kind in ("count", "sum_amount"):
                windows.setdefault(f.event_type, set()).add(spec.window_buckets(f))
        plans: list[_BucketPlan] = []
        for event_type, ws in windows.items():
            ordered = tuple(sorted(ws))
            outputs = tuple(
                (i, ordered.index(spec.window_buckets(f)), int(f.kind == "sum_amount"))
                for i, f in enumerate(spec.features)
                if f.event_type == event_type and f.kind in ("count", "sum_amount")
            )
            plans.append((event_type, ordered, outputs))
        self._bucket_plans = tuple(plans)
        self._max_window = {event_type: ws[-1] for event_type, ws, _ in plans}
        self._recency = tuple(
            (i, f.event_type) for i, f in enumerate(spec.features) if f.kind == "recency_days"
        )
        keys: list[tuple[str, float]] = []
        decay_plan = []
        for i, f in enumerate(spec.features):
            if f.kind == "decayed_count":
                assert f.half_life_days is not None  # checked by Feature
                key = (f.event_type, float(f.half_life_days))
                if key not in keys:
                    keys.append(key)
                decay_plan.append((i, keys.index(key), key[1] * DAY_SECONDS))
        self._decay_keys = tuple(keys)
        self._decay = tuple(decay_plan)
        self._decay_by_type: dict[str, tuple[tuple[int, float], ...]] = {
            t: tuple((j, hl * DAY_SECONDS) for j, (kt, hl) in enumerate(keys) if kt == t)
            for t in {k[0] for k in keys}
        }
        self._recency_types = frozenset(t for _, t in self._recency)
        self._relevant = (
            frozenset(self._max_window) | self._recency_types | frozenset(self._decay_by_type)
        )
        self._default = [self._cap if f.kind == "recency_days" else 0.0 for f in self.spec.features]

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, user: object) -> bool:
        return user in self._users

    def update(self, user: str, event_type: str, ts: float, amount: float | None = None) -> None:
        """Fold one event into ``user``'s state (events may arrive out of order)."""
        if event_type not in self._relevant:
            return
        if not math.isfinite(ts):
            raise FeatureError(f"event ts must be finite, got {ts!r}")
        value = 0.0 if amount is None else float(amount)
        if not math.isfinite(value):
            raise FeatureError(f"event amount must be finite or None, got {amount!r}")
        state = self._users.get(user)
        if state is None:
            state = self._users[user] = _UserState(len(self._decay_keys))
        window = self._max_window.get(event_type)
        if window is not None:
            self._add_to_bucket(state, event_type, math.floor(ts / self._bucket), value, window)
        if event_type in self._recency_types:
            last = state.last.get(event_type)
            if last is None or ts > last:
                state.last[event_type] = ts
        for j, half_life in self._decay_by_type.get(event_type, ()):
            acc = state.decay[j]
            if ts >= acc[1]:
                acc[0] = acc[0] * 2.0 ** ((acc[1] - ts) / half_life) + 1.0 if acc[0] else 1.0
                acc[1] = ts
            else:  # late arrival: decay it to the reference time instead
                acc[0] += 2.0 ** ((ts - acc[1]) / half_life)

    @staticmethod
    def _add_to_bucket(
        state: _UserState, event_type: str, idx: int, amount: float, window: int
    ) -> None:
        entries = state.buckets.get(event_type)
        if entries is None:
            state.buckets[event_type] = [(idx, 1, amount)]
            return
        newest = entries[-1][0]
        if idx == newest:
            _, count, total = entries[-1]
            entries[-1] = (idx, count + 1, total + amount)
        elif idx > newest:
            entries.append((idx, 1, amount))
            # Buckets at or below idx - window can never count again for any t >= idx.
            cut = bisect_left(entries, idx - window + 1, key=lambda e: e[0])
            if cut:
                del entries[:cut]
        elif idx > newest - window:  # late arrival still inside the longest window
            pos = bisect_left(entries, idx, key=lambda e: e[0])
            if pos < len(entries) and entries[pos][0] == idx:
                _, count, total = entries[pos]
                entries[pos] = (idx, count + 1, total + amount)
            else:
                entries.insert(pos, (idx, 1, amount))

    def _values(self, user: str, ts: float) -> list[float]:
        """The vector as a list of Python floats (every entry a float, so numpy infers f8)."""
        state = self._users.get(user)
        if state is None:
            return self._default
        vals = self._default.copy()
        cur = math.floor(ts / self._bucket)
        buckets = state.buckets
        for event_type, windows, outputs in self._bucket_plans:
            entries = buckets.get(event_type)
            if not entries:
                continue
            n_windows = len(windows)
            count = 0.0
            total = 0.0
            k = 0
            results: list[tuple[float, float]] = []
            for idx, c, s in reversed(entries):
                if idx > cur:
                    continue
                # Windows are nested, so a window's totals are the running totals at the
                # first bucket that falls out of it.
                while k < n_windows and idx <= cur - windows[k]:
                    results.append((count, total))
                    k += 1
                if k == n_windows:
                    break
                count += c
                total += s
            while k < n_windows:
                results.append((count, total))
                k += 1
            for pos, k_window, stat in outputs:
                vals[pos] = results[k_window][stat]
        cap = self._cap
        last = state.last
        for pos, event_type in self._recency:
            seen = last.get(event_type)
            if seen is not None:
                days = (ts - seen) / DAY_SECONDS
                vals[pos] = cap if days > cap else (days if days > 0.0 else 0.0)
        decay = state.decay
        for pos, j, half_life in self._decay:
            value, ref = decay[j]
            if value:
                vals[pos] = value * 2.0 ** ((ref - ts) / half_life)
        return vals

    def vector(self, user: str, ts: float) -> npt.NDArray[np.float64]:
        """Return the feature vector of ``user`` as of ``ts`` (float64, ``len(spec.names)``)."""
        return np.array(self._values(user, ts))  # all Python floats: float64, and faster

    def vector_into(self, user: str, ts: float, out: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Fill a preallocated 1-d buffer (float32 or float64) with the vector; return it."""
        out[:] = self._values(user, ts)
        return out

    def forget(self, user: str) -> None:
        """Drop everything known about ``user`` (erasure); unknown users are ignored."""
        self._users.pop(user, None)

    def state_of(self, user: str) -> dict[str, Any]:
        """Return ``user``'s state as a JSON-safe dict (for ``load_state``)."""
        state = self._users.get(user) or _UserState(len(self._decay_keys))
        return {
            "version": STATE_VERSION,
            "spec_hash": self._hash,
            "buckets": {t: [list(b) for b in entries] for t, entries in state.buckets.items()},
            "last": dict(state.last),
            "decay": [
                {"event_type": t, "half_life_days": hl, "value": acc[0], "ref": acc[1]}
                for (t, hl), acc in zip(self._decay_keys, state.decay, strict=True)
                if acc[0]
            ],
        }

    def load_state(self, user: str, state: Mapping[str, Any]) -> None:
        """Replace ``user``'s state with one from ``state_of`` of an engine with the same spec."""
        if state.get("spec_hash") != self._hash or state.get("version") != STATE_VERSION:
            raise FeatureError(
                "feature state was saved for another feature spec or format; rebuild it by "
                "replaying the user's events into this engine"
            )
        loaded = _UserState(len(self._decay_keys))
        try:
            for event_type, entries in state["buckets"].items():
                loaded.buckets[str(event_type)] = [
                    (int(i), int(c), float(s)) for i, c, s in entries
                ]
            loaded.last = {str(t): float(v) for t, v in state["last"].items()}
            for acc in state["decay"]:
                j = self._decay_keys.index((acc["event_type"], float(acc["half_life_days"])))
                loaded.decay[j] = [float(acc["value"]), float(acc["ref"])]
        except (KeyError, TypeError, ValueError) as exc:
            raise FeatureError(f"feature state for a user is malformed: {exc!r}") from exc
        self._users[user] = loaded
