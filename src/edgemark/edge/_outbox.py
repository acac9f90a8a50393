"""The offline-first outbox: report rows (and the latest heartbeat) waiting for the hub.

Delivery is oldest first and at least once; every row carries an idempotency key that the
hub stores once, so every report arrives exactly once however often it is re-sent.
Bounded: at most ``max_rows`` unsent rows; when a new day's rows would exceed it the
OLDEST unsent rows are dropped (counted in ``dropped``, logged), because fresh reports
matter more to a running experiment than stale ones and the node must not fill its disk
while the hub is away. Heartbeats are coalesced: only the newest waits. After a failed
send the next attempt waits ``min(max_delay, base * 2**(failures-1))``, half of it fixed
and half uniformly random (equal jitter), so a fleet coming back online does not stampede.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from edgemark.edge._state import StateStore
from edgemark.errors import ConfigError, EdgemarkError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one ``deliver`` call did: rows sent, whether it waited out a backoff, the error."""

    sent: int
    waited: bool = False
    error: str | None = None


class Outbox:
    """Reports and the latest heartbeat for the hub, with backoff; thread-safe."""

    def __init__(
        self,
        store: StateStore,
        *,
        max_rows: int = 100_000,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        if max_rows < 1 or base_delay_s <= 0 or max_delay_s < base_delay_s:
            raise ConfigError(
                "Outbox needs max_rows >= 1 and 0 < base_delay_s <= max_delay_s, got "
                f"{max_rows}, {base_delay_s}, {max_delay_s}."
            )
        self._store = store
        self.max_rows = max_rows
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self.failures = 0
        self.next_attempt_at = 0.0
        self.last_error: str | None = None
        self.dropped = int(store.get_meta("outbox_dropped") or 0)

    # -- what is waiting ------------------------------------------------------------------
    def pending(self, limit: int = 500) -> list[dict[str, Any]]:
        """Unsent report rows, oldest first (the same bytes every time they are sent)."""
        return self._store.unsent(limit)

    def size(self) -> int:
        """Number of unsent report rows."""
        return self._store.unsent_count()

    def ack(self, keys: Iterable[str]) -> None:
        """Mark rows the hub acknowledged (by idempotency key); they are never sent again."""
        self._store.mark_sent(keys)

    def note_dropped(self, count: int) -> None:
        """Account for ``count`` oldest rows dropped to respect ``max_rows``."""
        if count <= 0:
            return
        with self._lock:
            self.dropped += count
            self._store.set_meta("outbox_dropped", str(self.dropped))
        log.warning(
            "outbox full (%d unsent rows): dropped the %d oldest report rows", self.max_rows, count
        )

    # -- heartbeats (coalesced) -----------------------------------------------------------
    def put_heartbeat(self, payload: dict[str, Any]) -> None:
        """Keep ``payload`` as the heartbeat to send next (replacing an unsent older one)."""
        self._store.set_meta("outbox_heartbeat", json.dumps(payload, sort_keys=True))

    def heartbeat(self) -> dict[str, Any] | None:
        """The heartbeat waiting to be sent, if any."""
        text = self._store.get_meta("outbox_heartbeat")
        return None if not text else dict(json.loads(text))

    def ack_heartbeat(self) -> None:
        """The waiting heartbeat reached the hub."""
        self._store.set_meta("outbox_heartbeat", "")

    # -- backoff --------------------------------------------------------------------------
    def due(self, now: float | None = None) -> bool:
        """True if a send may be attempted now (no backoff pending)."""
        return (time.time() if now is None else now) >= self.next_attempt_at

    def failed(self, error: str, now: float | None = None) -> float:
        """Record a failed send; return the delay (s) before the next attempt."""
        with self._lock:
            self.failures += 1
            ceiling = min(self.max_delay_s, self.base_delay_s * 2.0 ** (self.failures - 1))
            delay = ceiling / 2.0 + self._rng.uniform(0.0, ceiling / 2.0)
            self.next_attempt_at = (time.time() if now is None else now) + delay
            self.last_error = error
            return delay

    def succeeded(self) -> None:
        """Record a successful send: the backoff starts over."""
        with self._lock:
            self.failures = 0
            self.next_attempt_at = 0.0
            self.last_error = None

    def deliver(
        self,
        send: Callable[[list[dict[str, Any]]], object],
        *,
        batch: int = 500,
        now: float | None = None,
    ) -> Delivery:
        """Send waiting rows oldest first in batches through ``send`` until none are left.

        ``send`` raises an ``EdgemarkError`` (e.g. ``HubError``) when the hub did not
        acknowledge; the batch stays queued and the backoff grows. Respects the backoff:
        returns ``Delivery(0, waited=True)`` before ``next_attempt_at``.
        """
        if not self.due(now):
            return Delivery(0, waited=True, error=self.last_error)
        sent = 0
        while rows := self.pending(batch):
            try:
                send(rows)
            except EdgemarkError as exc:
                self.failed(str(exc), now)
                return Delivery(sent, error=str(exc))
            self.ack(r["idempotency_key"] for r in rows)
            sent += len(rows)
        self.succeeded()
        return Delivery(sent)

    def stats(self) -> dict[str, Any]:
        """Figures for status, heartbeats and /metrics."""
        return {
            "unsent": self.size(),
            "dropped": self.dropped,
            "failures": self.failures,
            "next_attempt_in_s": max(0.0, self.next_attempt_at - time.time()),
            "last_error": self.last_error,
        }
