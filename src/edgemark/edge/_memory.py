"""The node's working memory: per-user state the hot path reads, and what is not yet written.

Owns each user's latest decision (its outcome is pending until a purchase converts it
inside its lookback, a newer decision supersedes it or the lookback passes: last touch,
once), the offers shown recently (attribution touches), the event ids seen (duplicates are
dropped), the queue of resolved outcomes the contextual policy still has to learn, and
the rows waiting for the next ``StateStore.write``. Callers hold the runtime's lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.edge._attribution import Touch, credits
from edgemark.edge._settings import PolicySettings
from edgemark.edge._state import AttributionRow, Changes, DecisionRow, EventRow, StateStore
from edgemark.errors import FeatureError
from edgemark.events import Event
from edgemark.features import OnlineFeatures

log = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float64]
_DAY = 86400.0


@dataclass(slots=True)
class LastDecision:
    """A user's latest decision. ``shown``: 0 nothing, k = offers[k-1]; ``x``: its context."""

    decision_id: str
    ts: float
    experiment: str
    layer: str
    arm: str
    shown: int
    x: FloatArray | None
    lookback_s: float
    converted: bool
    resolved: bool


Outcome = tuple[str, str, int, FloatArray, int, str]
"""(experiment, pseudonym, shown arm, context, y, decision id) for the policy to learn."""
ConversionHook = Callable[[LastDecision], None]


class NodeMemory:
    """Working memory of one node (not thread-safe: the runtime's lock guards it)."""

    def __init__(self, features: OnlineFeatures, touch_horizon_s: float = 30 * _DAY) -> None:
        self.features = features
        self.touch_horizon_s = touch_horizon_s
        self.last: dict[str, LastDecision] = {}
        self.open: dict[str, LastDecision] = {}
        self.touches: dict[str, list[Touch]] = {}
        self.seen: dict[str, float] = {}
        self.watermark = 0.0
        self.outcomes: list[Outcome] = []
        self.attributed: dict[str, list[float]] = {}
        self.events_by_type: dict[str, int] = {}
        self.duplicates = 0
        self._decisions: list[DecisionRow] = []
        self._events: list[EventRow] = []
        self._conversions: list[tuple[str, float, float]] = []
        self._attributions: list[AttributionRow] = []
        self._resolved: list[str] = []
        self._dirty: set[str] = set()
        self._forgotten: set[str] = set()
        self.cold: set[str] = set()  # users whose features changed and were not read since

    # -- decisions ------------------------------------------------------------------------
    def record_decision(self, pseudonym: str, row: DecisionRow, last: LastDecision) -> None:
        """Buffer a decision row and make it the user's latest decision."""
        self._decisions.append(row)
        previous = self.last.get(pseudonym)
        if previous is not None and not previous.resolved:
            self._resolve(pseudonym, previous, 0)  # superseded: it can no longer convert
        self.last[pseudonym] = last
        if not last.resolved:
            self.open[pseudonym] = last
        if row[6] is not None:  # an offer was shown: a touch for attribution
            touches = self.touches.setdefault(pseudonym, [])
            touches.append(Touch(last.decision_id, last.ts, row[6], last.lookback_s))
            if len(touches) > 1 and touches[0].ts < last.ts - self.touch_horizon_s:
                touches[:] = [t for t in touches if t.ts >= last.ts - self.touch_horizon_s]
        if last.ts > self.watermark:
            self.watermark = last.ts

    @property
    def buffered(self) -> int:
        """Decision rows waiting to be written."""
        return len(self._decisions)

    def _resolve(self, pseudonym: str, last: LastDecision, y: int) -> None:
        last.resolved = True
        self.open.pop(pseudonym, None)
        if last.x is not None:
            self.outcomes.append(
                (last.experiment, pseudonym, last.shown, last.x, y, last.decision_id)
            )
        else:
            self._resolved.append(last.decision_id)

    def learned(self, decision_ids: list[str]) -> None:
        """Outcomes the policy has learned: their decisions are resolved in the next write."""
        self._resolved.extend(decision_ids)

    def sweep(self) -> int:
        """Resolve as "no purchase" every open decision whose lookback has passed."""
        expired = [(p, d) for p, d in self.open.items() if self.watermark > d.ts + d.lookback_s]
        for pseudonym, last in expired:
            self._resolve(pseudonym, last, 0)
        return len(expired)

    # -- events ---------------------------------------------------------------------------
    def apply_event(
        self,
        event: Event,
        pseudonym: str,
        key: str,
        settings: Mapping[str, PolicySettings],
        attribution: str,
        on_conversion: ConversionHook,
    ) -> bool:
        """Fold one validated event in; False if its id was seen before (nothing changes)."""
        if key in self.seen:
            self.duplicates += 1
            return False
        self.seen[key] = event.ts
        if event.ts > self.watermark:
            self.watermark = event.ts
        self.events_by_type[event.type] = self.events_by_type.get(event.type, 0) + 1
        # The feature engine applies consent itself: events without personalization consent
        # do not count, and a revocation drops what it knew about the user.
        self.features.update_event(event, user=pseudonym)
        self._dirty.add(pseudonym)
        self.cold.add(pseudonym)
        self._forgotten.discard(pseudonym)
        consent = (
            int(event.consent_personalization)
            | int(event.consent_measurement) << 1
            | int(event.consent_training) << 2
        )
        self._events.append(
            (key, pseudonym, event.ts, event.type, event.amount, event.offer, event.category,
             event.item, event.channel, consent)
        )  # fmt: skip
        if event.type == "purchase":
            amount = float(event.amount or 0.0)
            self._convert(pseudonym, event.ts, amount, settings, on_conversion)
            self._attribute(pseudonym, key, event.ts, amount, attribution)
        return True

    def _convert(
        self,
        pseudonym: str,
        ts: float,
        amount: float,
        settings: Mapping[str, PolicySettings],
        on_conversion: ConversionHook,
    ) -> None:
        last = self.last.get(pseudonym)
        if last is None or last.converted or not 0.0 <= ts - last.ts <= last.lookback_s:
            return
        policy = settings.get(last.experiment)
        if policy is None:
            return
        last.converted = True
        self._conversions.append((last.decision_id, ts, min(amount, policy.revenue_cap)))
        on_conversion(last)
        if not last.resolved:
            self._resolve(pseudonym, last, 1)

    def _attribute(self, pseudonym: str, key: str, ts: float, amount: float, model: str) -> None:
        for touch, credit in credits(self.touches.get(pseudonym, ()), ts, model):
            self._attributions.append(
                (key, touch.decision_id, touch.offer, model, credit, amount, ts)
            )
            totals = self.attributed.setdefault(touch.offer, [0.0, 0.0])
            totals[0] += credit
            totals[1] += credit * amount

    # -- writing --------------------------------------------------------------------------
    def take_changes(self) -> Changes:
        """Hand over everything not yet written (feature states captured now)."""
        states = {u: self.features.state_of(u) for u in self._dirty if u in self.features}
        changes = Changes(
            decisions=self._decisions,
            resolved=self._resolved,
            conversions=self._conversions,
            attributions=self._attributions,
            events=self._events,
            user_states=states,
            forgotten=list(self._forgotten),
        )
        self._decisions, self._resolved, self._conversions = [], [], []
        self._attributions, self._events = [], []
        self._dirty, self._forgotten = set(), set()
        return changes

    def give_back(self, changes: Changes) -> None:
        """Re-queue a change set whose write failed, ahead of what came since."""
        self._decisions[:0] = changes.decisions
        self._resolved[:0] = changes.resolved
        self._conversions[:0] = changes.conversions
        self._attributions[:0] = changes.attributions
        self._events[:0] = changes.events
        self._dirty.update(changes.user_states)
        self._forgotten.update(u for u in changes.forgotten if u not in self._dirty)

    def evict_inactive(self) -> int:
        """Drop feature state of users idle past the spec's TTL (it is all defaults by then)."""
        gone = self.features.evict_inactive(self.watermark)
        self.cold.difference_update(gone)
        self._forgotten.update(gone)
        self._dirty.difference_update(gone)
        return len(gone)

    def warm_one(self) -> bool:
        """Precompute one changed user's per-bucket features at the watermark, so the next
        decision for them reads kept values; False when none is left."""
        if not self.cold:
            return False
        self.features.prepare(self.cold.pop(), self.watermark)
        return True

    def prune_seen(self, before: float) -> None:
        """Forget event ids older than ``before`` (the duplicate window)."""
        if self.seen and min(self.seen.values()) < before:
            self.seen = {k: t for k, t in self.seen.items() if t >= before}

    # -- start and erasure ----------------------------------------------------------------
    def restore(
        self,
        store: StateStore,
        settings: Mapping[str, PolicySettings],
        dim_of: Callable[[str], int | None],
        seen_since: float,
    ) -> None:
        """Rebuild memory from the database after a start (or a crash)."""
        for pseudonym, state in store.user_states().items():
            try:
                self.features.load_state(pseudonym, state)
            except FeatureError as exc:  # saved by another spec or format: rebuilt by events
                log.warning("feature state of one user not restored: %s", exc)
        self.watermark = store.watermark()
        self.seen = dict(store.recent_event_keys(seen_since))
        open_rows = {row[0]: row for row in store.open_decisions()}
        for row in store.last_decisions():
            pseudonym, decision_id, ts, experiment, arm, offer, converted = row[:7]
            policy = settings.get(experiment)
            lookback = policy.lookback_s(offer or arm) if policy else 0.0
            x = _context(row[8], dim_of(experiment)) if decision_id in open_rows else None
            shown = _shown(policy, offer)
            last = LastDecision(
                decision_id,
                ts,
                experiment,
                row[9],
                arm,
                shown,
                x,
                lookback,
                bool(converted),
                x is None,
            )
            self.last[pseudonym] = last
            if x is not None:
                if converted:
                    self._resolve(pseudonym, last, 1)
                else:
                    self.open[pseudonym] = last
        for decision_id, pseudonym, ts, experiment, offer, blob, converted in open_rows.values():
            latest = self.last.get(pseudonym)
            if latest is not None and latest.decision_id == decision_id:
                continue
            policy = settings.get(experiment)
            x = _context(blob, dim_of(experiment))
            stale = LastDecision(
                decision_id,
                ts,
                experiment,
                "",
                "",
                _shown(policy, offer),
                x,
                0.0,
                bool(converted),
                False,
            )
            self._resolve(pseudonym, stale, int(bool(converted)))
        self.sweep()

    def restore_touches(self, rows: list[tuple[str, str, float, str, str | None]],
                        lookback: Callable[[str, str], float]) -> None:  # fmt: skip
        """Rebuild attribution touches from recent decisions (id, pseudonym, ts, exp, offer)."""
        for decision_id, pseudonym, ts, experiment, offer in rows:
            if offer is not None:
                touch = Touch(decision_id, ts, offer, lookback(experiment, offer))
                self.touches.setdefault(pseudonym, []).append(touch)

    def forget(self, pseudonym: str) -> dict[str, int]:
        """Drop every trace of a user from memory (erasure); counts what was dropped."""
        last = self.last.pop(pseudonym, None)
        self.open.pop(pseudonym, None)
        self.touches.pop(pseudonym, None)
        self.features.forget(pseudonym)
        self._dirty.discard(pseudonym)
        self.cold.discard(pseudonym)
        mine = {r[0] for r in self._decisions if r[1] == pseudonym}
        pending = len(mine) + sum(1 for e in self._events if e[1] == pseudonym)
        self._decisions = [r for r in self._decisions if r[1] != pseudonym]
        self._events = [e for e in self._events if e[1] != pseudonym]
        self._conversions = [c for c in self._conversions if c[0] not in mine]
        self._attributions = [a for a in self._attributions if a[1] not in mine]
        self.outcomes = [o for o in self.outcomes if o[1] != pseudonym]
        return {"last_decision": int(last is not None), "unwritten": pending}


def _shown(policy: PolicySettings | None, offer: str | None) -> int:
    if offer is None or policy is None or offer not in policy.offers:
        return 0
    return policy.offers.index(offer) + 1


def _context(blob: Any, dim: int | None) -> FloatArray | None:
    if blob is None or dim is None or len(blob) != 8 * dim:
        return None
    return np.frombuffer(blob, dtype=np.float64).copy()
