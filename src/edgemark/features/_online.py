"""The online feature engine: incremental per-user state that the edge updates and reads.

Core only (stdlib + numpy). ``update`` does amortised O(1) work per event (a late event
costs a binary search and a short shift); ``vector`` sums the bucket rows inside each window
with numpy and reads the side structures, so its cost is bounded by the longest window, not
by the user's history. Same meaning as the batch engine (parity is tested).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import FeatureError
from edgemark.events import EVENT_TYPES, Event
from edgemark.features._plan import Plan
from edgemark.features._read import Reader, read_vector, warm
from edgemark.features._spec import FeatureSpec
from edgemark.features._state import UserState

STATE_VERSION = 2
_KNOWN_TYPES = frozenset(EVENT_TYPES)


class OnlineFeatures:
    """Incremental features per user, equal to the batch engine's (parity is tested).

    ``vector(user, t)`` is exact when every event of the user observed so far has
    ``ts <= t`` (events are observed after they happen; decisions are made now); rows of
    buckets later than ``t`` are left out and recency never goes below 0 otherwise.
    Consent: an event counts only with ``personalization`` consent, and a consent event
    that revokes it drops everything known before it (see ``FeatureSpec`` for late events).

    Examples
    --------
    >>> from edgemark.features import Feature, FeatureSpec
    >>> spec = FeatureSpec((Feature("buys_30d", "count", "purchase", window_days=30),
    ...                     Feature("spend_30d", "sum_amount", "purchase", window_days=30)))
    >>> online = OnlineFeatures(spec)
    >>> online.update("u1", "purchase", 86400.0 * 100, amount=20.0)
    >>> online.vector("u1", 86400.0 * 101).tolist()
    [1.0, 20.0]
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._plan = Plan(spec)
        self._reader = Reader(self._plan)
        self._hash = spec.spec_hash()
        self._users: dict[str, UserState] = {}

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, user: object) -> bool:
        return user in self._users

    def users(self) -> list[str]:
        """The users with state, in no particular order."""
        return list(self._users)

    # -- updates --------------------------------------------------------------------------
    def update(
        self,
        user: str,
        event_type: str,
        ts: float,
        amount: float | None = None,
        category: str | None = None,
        *,
        personalization: bool = True,
    ) -> None:
        """Fold one event into ``user``'s state (events may arrive out of order).

        ``personalization`` is the event's consent flag; on a ``consent`` event it says
        whether the user grants (True) or revokes (False) personalization.
        """
        if event_type not in _KNOWN_TYPES:
            raise FeatureError(f"unknown event type {event_type!r}; known: {sorted(_KNOWN_TYPES)}")
        if not math.isfinite(ts):
            raise FeatureError(f"event ts must be finite, got {ts!r}")
        value = 0.0 if amount is None else float(amount)
        if not math.isfinite(value):
            raise FeatureError(f"event amount must be finite or None, got {amount!r}")
        state = self._users.get(user)
        if state is None:
            state = self._users[user] = UserState()
        state.memo = None  # whatever this event changes, the reader recomputes
        newest = state.wm
        lag = newest - ts if ts < newest else 0.0
        if ts > newest:
            state.wm = ts
        if event_type == "consent":
            self._consent(state, ts, lag, personalization)
        elif lag <= self._plan.lateness and personalization and ts > state.kill:
            self._fold(state, event_type, ts, value, category)
        if ts > newest:
            self._advance(state)

    def update_event(self, event: Event, user: str | None = None) -> None:
        """Fold an ``Event`` (its category and personalization consent included); ``user``
        overrides ``event.user`` (e.g. with a pseudonym)."""
        self.update(
            event.user if user is None else user,
            event.type,
            event.ts,
            event.amount,
            event.category,
            personalization=event.consent_personalization,
        )

    def _consent(self, state: UserState, ts: float, lag: float, granted: bool) -> None:
        if granted:
            if lag > self._plan.lateness:
                return  # a grant that is too late is dropped, like any late event
            if state.consent_eff is None or ts > state.consent_eff:
                state.consent_eff, state.consent_granted = ts, True
            return
        effective = ts + lag  # a late revocation takes effect when it arrives
        if state.consent_eff is None or effective >= state.consent_eff:
            state.consent_eff, state.consent_granted = effective, False
        if effective > state.kill:
            state.kill = effective
            state.reset()

    def _fold(
        self, state: UserState, event_type: str, ts: float, amount: float, cat: str | None
    ) -> None:
        plan = self._plan
        bucket = math.floor(ts / plan.bucket)
        updates = plan.updates[event_type]
        cat_cols = plan.category_cols[event_type]
        if updates or cat_cols:
            dead = math.floor(state.wm / plan.bucket) - plan.max_window
            row = state.row(bucket, plan.width, dead)
            if row >= 0:
                data = state.data
                assert data is not None
                start = bucket * plan.bucket
                for col, what, half_life in updates:
                    if what == "one":
                        data[row, col] += 1.0
                    elif what == "amount":
                        data[row, col] += amount
                    else:
                        data[row, col] += 2.0 ** ((ts - start) / half_life)
                if cat is not None and cat in cat_cols:
                    data[row, cat_cols[cat]] += 1.0
        if event_type in plan.recency_types and ts > state.last.get(event_type, -math.inf):
            state.last[event_type] = ts
        cap = plan.category_caps.get(event_type)
        if cap is not None and cat is not None:
            state.add_category(event_type, cat, ts, cap)
        if plan.sessions:
            state.add_to_sessions(ts, plan.gap)
        if plan.carts:
            if event_type == "add_to_cart":
                state.add_cart(ts, plan.carts)
            elif event_type == "purchase":
                state.add_purchase(ts, plan.carts)
        if plan.fatigue_cap:
            if event_type == "exposure":
                state.add_exposure(ts, plan.fatigue_cap)
            elif event_type == "redeem":
                state.add_redeem(ts)

    def _advance(self, state: UserState) -> None:
        """Finalise what no on-time event can change any more (amortised O(1))."""
        plan = self._plan
        settled = state.wm - plan.lateness
        dead = math.floor(state.wm / plan.bucket) - plan.max_window
        sessions = state.sessions
        while sessions and sessions[0][1] < settled - plan.gap:
            start = sessions.pop(0)[0]
            self._count(state, start, plan.start_col, dead)
        if plan.carts:
            purchases = state.purchases
            del purchases[: bisect_left(purchases, settled)]
            for within, pending in state.carts.items():
                while pending and pending[0] + within < settled:
                    self._count(state, pending.pop(0), plan.abandon_cols[within], dead)
        if state.exposures:  # exposures older than the fatigue window never count again
            newest = math.floor(state.wm / plan.bucket)
            edge = (newest - plan.fatigue_window + 1) * plan.bucket
            del state.exposures[: bisect_left(state.exposures, edge)]

    def _count(self, state: UserState, ts: float, col: int, dead: int) -> None:
        """Add one to ``col`` in the bucket row of ``ts`` (if still inside a window)."""
        if col < 0:
            return
        row = state.row(math.floor(ts / self._plan.bucket), self._plan.width, dead)
        if row >= 0:
            assert state.data is not None
            state.data[row, col] += 1.0

    # -- reads ----------------------------------------------------------------------------
    def vector(self, user: str, ts: float) -> npt.NDArray[np.float64]:
        """Return the feature vector of ``user`` as of ``ts`` (float64, ``len(spec.names)``)."""
        return np.array(self._values(user, ts), dtype=np.float64)

    def values(self, user: str, ts: float) -> list[float]:
        """The vector of ``user`` as of ``ts`` as a list of Python floats (the cheapest read)."""
        return read_vector(self._reader, self._users.get(user), ts)

    def prepare(self, user: str, ts: float) -> None:
        """Compute now, off the hot path, what reads of ``user`` in the bucket of ``ts`` share
        (a later read is then cheap; nothing changes what it returns)."""
        state = self._users.get(user)
        if state is not None:
            warm(self._reader, state, ts)

    def vector_into(self, user: str, ts: float, out: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Fill a preallocated 1-d buffer (float32 or float64) with the vector; return it."""
        out[:] = self._values(user, ts)
        return out

    def _values(self, user: str, t: float) -> list[float]:
        return read_vector(self._reader, self._users.get(user), t)

    # -- lifecycle ------------------------------------------------------------------------
    def forget(self, user: str) -> None:
        """Drop everything known about ``user`` (erasure); unknown users are ignored."""
        self._users.pop(user, None)

    def evict_inactive(self, now: float) -> list[str]:
        """Drop users inactive for longer than ``spec.ttl_seconds`` before ``now``.

        Their features are all at the defaults by then, so nothing changes for a reader;
        a user whose latest consent revoked personalization keeps that (tiny) record.
        """
        cutoff = now - self._plan.ttl
        gone: list[str] = []
        for user, state in list(self._users.items()):
            if state.wm >= cutoff:
                continue
            if state.consent_eff is not None and not state.consent_granted:
                if state.rows() or state.sessions or state.last:
                    state.reset()
                continue
            del self._users[user]
            gone.append(user)
        return gone

    def state_of(self, user: str) -> dict[str, Any]:
        """Return ``user``'s state as a JSON-safe dict (for ``load_state``)."""
        state = self._users.get(user) or UserState()
        return {"version": STATE_VERSION, "spec_hash": self._hash, **state.to_dict()}

    def load_state(self, user: str, state: Mapping[str, Any]) -> None:
        """Replace ``user``'s state with one from ``state_of`` of an engine with the same spec."""
        if state.get("spec_hash") != self._hash or state.get("version") != STATE_VERSION:
            raise FeatureError(
                "feature state was saved for another feature spec or format; rebuild it by "
                "replaying the user's events into this engine"
            )
        self._users[user] = UserState.from_dict(dict(state), self._plan.width)

    def replay(self, events: Iterable[Event]) -> int:
        """Fold ``events`` in the order given (their ``user`` as is); return how many."""
        n = 0
        for event in events:
            self.update_event(event)
            n += 1
        return n
