"""The runtime's write path and background work: change sets, learning, pruning.

``commit_lock`` orders every write and is the only place the contextual posterior changes,
so a write reads the posterior without the runtime's lock. The posterior is large, so it is
written at most every ``MODEL_EVERY_S`` (or when forced), together with the resolved flags
of exactly the outcomes it has learned; until then those decisions stay open in the file
and a restart learns them again, so the file never disagrees with itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from edgemark.edge._active import Active
from edgemark.edge._memory import NodeMemory, Outcome
from edgemark.edge._state import StateStore

LEARN_CHUNK = 2000  # outcomes per Newton solve, so one solve stays short
WARM_PER_ROUND = 4096  # users whose features are precomputed per round (each ~20 µs)
LEARN_EVERY_S = 1.0  # background learning cadence: fewer, larger batches cost less per outcome
MODEL_EVERY_S = 5.0
PRUNE_EVERY_S = 60.0


class Maintenance:
    """Writes the memory's change sets and does the periodic work of one runtime."""

    def __init__(
        self,
        store: StateStore,
        memory: NodeMemory,
        lock: Any,
        posteriors: dict[tuple[str, str], tuple[float, float]],
        rng: np.random.Generator,
        retention_s: float,
        decision_days: int = 90,
        learn_every_s: float = 0.0,
    ) -> None:
        self.store = store
        self.memory = memory
        self.lock = lock
        self.commit_lock = threading.Lock()
        self.posteriors = posteriors  # Beta counts, shared with the runtime
        self.rng = rng
        self.retention_s = retention_s
        self.decision_days = decision_days
        self._posteriors_written = dict(posteriors)
        self._learned: list[str] = []  # learned outcomes not yet written with the posterior
        self._models_written = time.monotonic()
        self._last_prune = 0.0
        self.learn_every_s = learn_every_s  # 0: learn on every round (inline, deterministic)
        self._last_learn = 0.0

    def save_beta_counts(self, active: Active | None) -> None:
        """Copy the serving Beta policy's counts into ``posteriors`` (caller holds ``lock``)."""
        if active is not None:
            for offer, counts in active.beta.counts().items():
                self.posteriors[(active.settings.experiment, offer)] = counts

    def write(self, active: Active | None, *, models: bool = False) -> None:
        """Take the changes under ``lock`` (a consistent cut) and write them outside it.

        Caller holds ``commit_lock``.
        """
        with self.lock:
            changes = self.memory.take_changes()
            self.save_beta_counts(active)
            changes.posteriors = {
                k: v for k, v in self.posteriors.items() if self._posteriors_written.get(k) != v
            }
        due = models or time.monotonic() - self._models_written >= MODEL_EVERY_S
        learned: list[str] = []
        if due and self._learned and active is not None and active.contextual is not None:
            changes.models = {active.settings.experiment: active.contextual.state()}
            learned, self._learned = self._learned, []
            changes.resolved.extend(learned)
        try:
            self.store.write(changes)
        except Exception:
            self._learned[:0] = learned
            with self.lock:
                self.memory.give_back(changes)
            raise
        self._posteriors_written.update(changes.posteriors)
        if learned:
            self._models_written = time.monotonic()

    def run_once(self, active: Active | None, *, force: bool = False) -> None:
        """Resolve, learn, redraw, bin drift and write. Caller holds ``commit_lock``."""
        now = time.monotonic()
        learn = (
            force
            or now - self._last_learn >= self.learn_every_s
            or len(self.memory.outcomes) >= LEARN_CHUNK
        )
        with self.lock:
            self.memory.sweep()
            outcomes: list[Outcome] = []
            if learn:
                outcomes, self.memory.outcomes = self.memory.outcomes, []
                self._last_learn = now
            beta = active.beta.snapshot() if active and active.beta.stale else None
        learned = [outcome[5] for outcome in outcomes]
        if active is not None and active.contextual is not None:
            batch = [
                (shown, x, y)
                for experiment, _user, shown, x, y, _id in outcomes
                if experiment == active.settings.experiment and len(x) == active.dim
            ]
            for start in range(0, len(batch), LEARN_CHUNK):
                active.contextual.learn_batch(batch[start : start + LEARN_CHUNK])
            if learned:
                active.contextual.refresh(self.rng)
            self._learned.extend(learned)
        else:
            with self.lock:
                self.memory.learned(learned)  # no posterior to write them with
        if active is not None:
            if beta is not None:
                pi = active.beta.estimate(*beta, self.rng)
                with self.lock:
                    active.beta.install(pi)
            active.drift.update()
        self.write(active, models=force)
        self._warm()
        self._prune()

    def _warm(self) -> None:
        """Precompute the features of users whose state changed (one lock hold per user,
        so a decision waits for at most one of them)."""
        for _ in range(WARM_PER_ROUND):
            with self.lock:
                if not self.memory.warm_one():
                    return

    def run_forever(
        self, interval_s: float, closing: threading.Event, active: Callable[[], Active | None]
    ) -> None:
        """``run_once`` every ``interval_s`` until ``closing`` is set; errors are retried."""
        import logging

        log = logging.getLogger("edgemark.edge")
        while not closing.wait(interval_s):
            try:
                with self.commit_lock:
                    self.run_once(active())
            except Exception:  # keep serving; the next round retries the write
                log.exception("edge state maintenance failed")

    def _prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        horizon = self.memory.watermark - self.retention_s
        with self.lock:
            self.memory.prune_seen(horizon)
            self.memory.evict_inactive()
        # Reported, resolved decisions older than decision_days go (guardrail windows and
        # lookbacks are far shorter); the DP rows made from them are in the outbox.
        self.store.prune(horizon, int(self.memory.watermark // 86400) - self.decision_days)
