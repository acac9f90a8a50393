"""The edge ``Runtime``: verify and swap bundles, decide, observe outcomes, report, erase.

One immutable ``Active`` reference holds everything built from the serving bundle; ``load``
builds a new one off to the side and swaps the reference, so a failed load never disturbs
the bundle that is serving and a swap under load fails no decision. decide/observe share
one lock. The hot path does no I/O: decisions are buffered, and ``commit`` writes all
changes in one transaction (the local API commits before it answers, so what it
acknowledged survives a crash). A maintenance thread (every ``maintenance_interval_s``)
resolves expired outcomes, lets the contextual policy learn them, redraws its ensemble,
bins drift histograms and commits.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.bundle import Manifest, TrustStore
from edgemark.edge._active import Active, VersionHealth, build_active, prepare_bundle
from edgemark.edge._content import compose_from, open_pack
from edgemark.edge._erase import node_pseudonymizer
from edgemark.edge._experiments import EXPLORE, HOLDOUT, assign
from edgemark.edge._latency import LatencyRecord
from edgemark.edge._maintenance import LEARN_EVERY_S, Maintenance
from edgemark.edge._memory import LastDecision, NodeMemory
from edgemark.edge._outbox import Outbox
from edgemark.edge._release import Release, release_days
from edgemark.edge._serving import check_offer, count_conversion, decision_row, serve_policy
from edgemark.edge._settings import PolicySettings, stored_settings
from edgemark.edge._spec_state import check_state_spec
from edgemark.edge._state import StateStore
from edgemark.edge._status import node_stats
from edgemark.edge._types import Decision, DecisionRequest, ObserveResult
from edgemark.errors import (
    EdgeError,
    EventError,
    ModelError,
    NoBundleError,
)
from edgemark.events import Event, validate_event
from edgemark.features import DEFAULT_SPEC, FeatureSpec, OnlineFeatures
from edgemark.models import OnnxScorer
from edgemark.privacy import LedgerEntry, PrivacyBudget, PrivacyLedger

log = logging.getLogger(__name__)
_DAY = 86400
_USER_CACHE = 200_000
DEFAULT_BUDGET = PrivacyBudget(epsilon=100.0, period_days=30)


class Runtime:
    """Decides on this touchpoint from a verified bundle and learns from outcomes.

    Parameters
    ----------
    state_dir : directory of the node's SQLite state and key file (created if missing).
    node_id : the node's name; part of report idempotency keys and the policy's seed.
    trust : keys a bundle must be signed with; without it no bundle loads.
    key : pseudonymisation key; default: ``state_dir/node.key`` (created on first start).
    seed : seed of the policy's random generators (combined with ``node_id``).
    maintenance_interval_s : period of the background maintenance; ``None`` runs it inline
        every ``batch_size`` decisions instead (deterministic, for simulations). In-process
        ``decide`` calls not yet committed are lost in a crash (at most one period).
    batch_size : buffered decisions that force an inline maintenance (default 256 inline,
        8192 with the background thread, as back-pressure).
    privacy_budget : the node's budget; default: the bundle's ``privacy_budget``, else
        epsilon 100 per 30 days.
    durability : "process" (survives a killed process) or "power" (also a power cut).
    outbox_max_rows : bound of unsent report rows (oldest dropped beyond it).
    event_retention_days : how long journaled events (and so duplicate detection) are kept.
    decision_retention_days : reported, resolved decisions older than this are deleted.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        node_id: str,
        *,
        trust: TrustStore | None,
        key: bytes | None = None,
        seed: int = 0,
        maintenance_interval_s: float | None = 0.2,
        batch_size: int | None = None,
        privacy_budget: PrivacyBudget | None = None,
        durability: str = "process",
        outbox_max_rows: int = 100_000,
        event_retention_days: float = 2.0,
        decision_retention_days: int = 90,
        spec: FeatureSpec = DEFAULT_SPEC,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self._trust = trust
        self._pseudo = node_pseudonymizer(self.state_dir, key)
        base = [seed, zlib.crc32(node_id.encode())]
        self._np_rng = np.random.default_rng([*base, 1])
        self._random = random.Random(f"{seed}:{node_id}").random
        self._ids = random.Random(os.urandom(16)).getrandbits  # unique across restarts
        # Decision ids grow with time (start time in µs + a counter, then 28 random bits), so
        # SQLite appends them to the primary-key index instead of inserting all over it.
        self._id_base = time.time_ns() // 1000
        self._n_ids = 0
        self._lock = threading.RLock()
        inline = maintenance_interval_s is None
        self._batch = batch_size if batch_size is not None else (256 if inline else 8192)
        self._store = StateStore(self.state_dir / "edge.db", durability=durability)
        check_state_spec(self._store, spec)
        self.spec = spec
        self._names = spec.names
        self._features = OnlineFeatures(spec)
        self._erase_hooks: list[Callable[[str], None]] = []
        self._memory = NodeMemory(self._features)
        self._settings = stored_settings(self._store.meta_items("policy:"))
        self._posteriors = self._store.posteriors()
        self._saved_models = self._store.models()
        retention_s = event_retention_days * _DAY
        self._memory.restore(
            self._store,
            self._settings,
            lambda _experiment: 2 + len(self._names),
            seen_since=self._store.watermark() - retention_s,
        )
        self._maint = Maintenance(
            self._store,
            self._memory,
            self._lock,
            self._posteriors,
            self._np_rng,
            retention_s,
            decision_retention_days,
            learn_every_s=0.0 if inline else LEARN_EVERY_S,
        )
        self._commit_lock = self._maint.commit_lock
        self._memory.attributed = {o: [c, r] for o, (c, r) in self._store.attributed().items()}
        self._node_budget = privacy_budget
        self._ledger = PrivacyLedger(
            privacy_budget or DEFAULT_BUDGET,
            [LedgerEntry(*row) for row in self._store.ledger_entries()],
        )
        self.outbox = Outbox(self._store, max_rows=outbox_max_rows)
        self._by_version = self._store.decisions_by_version()
        # Decisions since start by (offer shown or 'none', layer): /metrics' decisions_total.
        self._by_offer: dict[tuple[str, str], int] = {}
        self._health: defaultdict[str, VersionHealth] = defaultdict(VersionHealth)
        self._latency = LatencyRecord()
        self._active: Active | None = None
        self._content_lock = threading.Lock()  # a pack is closed only when no compose uses it
        self._closing = threading.Event()
        self._maintainer: threading.Thread | None = None
        if not inline:
            self._maintainer = threading.Thread(
                target=self._maint.run_forever,
                args=(maintenance_interval_s, self._closing, lambda: self._active),
                name=f"edge-maintenance-{node_id}",
                daemon=True,
            )
            self._maintainer.start()

    # -- bundles --------------------------------------------------------------------------
    def load(self, bundle_dir: str | os.PathLike[str]) -> Manifest:
        """Verify the bundle in ``bundle_dir``, self-test it and make it the serving bundle.

        Raises the ``BundleError`` of the first failed check (signature, integrity, runtime
        requirements, feature spec, policy, model, ``"self-test failed: ..."``); the current
        bundle keeps serving in that case.
        """
        path = Path(bundle_dir)
        manifest, settings, scorer = prepare_bundle(path, self._trust, self.spec)
        content = open_pack(path, manifest)  # pack and model swap together, or neither
        try:
            self._swap(path, manifest, settings, scorer, content)
        except BaseException:
            active = self._active
            if content is not None and (active is None or active.content is not content):
                content.close()  # not swapped in: nothing else will close it
            raise
        return manifest

    def _swap(
        self,
        path: Path,
        manifest: Manifest,
        settings: PolicySettings,
        scorer: OnnxScorer,
        content: Any | None,
    ) -> None:
        with self._commit_lock:  # no learning or write while state moves to the new bundle
            with self._lock:
                self._maint.save_beta_counts(self._active)
                previous = self._active
            active = build_active(
                path,
                manifest,
                settings,
                scorer,
                self._names,
                previous=previous,
                beta_counts={
                    o: self._posteriors.get((settings.experiment, o), (0.0, 0.0))
                    for o in settings.offers
                },
                model_state=self._saved_models.get(settings.experiment),
                rng=self._np_rng,
            )
            active = replace(active, content=content)
            if previous is None or previous.settings.experiment != settings.experiment:
                self._maint.write(previous)  # so the counters below see every decision
                since = self._memory.watermark - active.guards.horizon_s()
                rows = self._store.recent_decisions(since)
                active.guards.restore(
                    (u, t, o) for _i, u, t, e, o in rows if e == settings.experiment
                )
                if previous is None:  # on start; later, touches are already in memory
                    self._memory.restore_touches(rows, self._touch_lookback)
            with self._lock:
                self._settings[settings.experiment] = settings
                self._active = active
                if self._node_budget is None and settings.privacy_epsilon is not None:
                    budget = PrivacyBudget(settings.privacy_epsilon, settings.privacy_period_days)
                    self._ledger = PrivacyLedger(budget, self._ledger.entries())
            self._store.set_meta(f"policy:{settings.experiment}", settings.to_json())
            self._store.set_meta("active_version", manifest.version)
            self._store.set_meta("active_dir", str(path.resolve()))
        if previous is not None and previous.content is not None:
            with self._content_lock:  # no compose is using the old pack any more
                previous.content.close()

    def reload_last(self) -> Manifest | None:
        """Load the last bundle that was serving before a restart, if it still verifies."""
        last = self._store.get_meta("active_dir")
        if last is None or not Path(last).is_dir():
            return None
        return self.load(last)

    @property
    def active_version(self) -> str | None:
        """Version of the serving bundle, or None."""
        active = self._active
        return None if active is None else active.version

    def compose(self, request: Any) -> Any:
        """Copy variants for a ``ComposeRequest`` from the serving bundle's content pack.

        Returns a ``ComposedCopy`` whose ``variant_id`` the node's variant bandit chose to
        show, with its ``propensity`` (logged in ``state_dir/variants.db``; see
        docs/content.md). Raises ``NoBundleError`` without a bundle and ``EdgeError`` when
        the bundle carries no content pack.
        """
        with self._content_lock:
            active = self._serving()
            return compose_from(active.content, active.version, request, node=self,
                                lookback_s=active.settings.lookback_s)  # fmt: skip

    def _serving(self) -> Active:
        active = self._active
        if active is None:
            raise NoBundleError(
                "No verified bundle is loaded; sync with the hub (POST /v1/sync) or "
                "Runtime.load(<bundle dir>) first."
            )
        return active

    # -- hot path -------------------------------------------------------------------------
    def decide(self, request: DecisionRequest) -> Decision:
        """Choose an offer (or none) for one request; see docs/edge.md, "Decisions".

        Guardrails first (their reasons are in ``reasons``), then the user's layer of the
        experiment: holdout (no offer), explore (a uniformly random offer, the measurement
        layer) or the policy. ``probability`` is the probability of ``arm`` (layer share
        times the within-layer probability).
        """
        start = time.perf_counter_ns()
        active = self._serving()
        settings = active.settings
        cached = active.users.get(request.user)
        if cached is None:
            pseudonym = self._pseudo.pseudonym(request.user)
            cached = (pseudonym, assign(settings, pseudonym, active.assignments))
            if len(active.users) >= _USER_CACHE:
                active.users.clear()
            active.users[request.user] = cached
        pseudonym, assignment = cached
        ts = request.ts
        with self._lock:
            try:
                vals = score = x = None
                reasons: tuple[str, ...] = ("no_personalization_consent",)
                if request.consent_personalization:
                    vals = self._features.values(pseudonym, ts)
                    vector = np.array(vals)
                    score = value = active.scorer.score_one(vector)
                    x = active.context(vector, value, vals)
                    active.drift.add(vector, value)
                    reasons = ()
            except ModelError as exc:
                self._health[active.version].errors += 1
                raise EdgeError(f"Scoring failed on bundle {active.version}: {exc}") from exc
            layer = assignment.layer
            allowed: tuple[bool, ...] = ()
            blocked: tuple[str, ...] = ()
            if layer != HOLDOUT:  # a holdout shows nothing: no guardrail to ask
                consent = (request.consent_personalization, request.consent_measurement)
                allowed, blocked, _ = active.guards.check(
                    pseudonym, ts, request.context, score, consent
                )
            if assignment.excluded:
                allowed = tuple(a and i not in assignment.excluded for i, a in enumerate(allowed))
            offers = settings.offers
            if layer == HOLDOUT:
                arm, shown, probability = HOLDOUT, 0, assignment.share
            elif layer == EXPLORE:
                k = min(int(self._random() * len(offers)), len(offers) - 1)
                arm, probability = offers[k], assignment.share / len(offers)
                shown = k + 1 if allowed[k] else 0
            else:
                shown, p = serve_policy(active, x, vals, score, allowed, self._random)
                arm = offers[shown - 1] if shown else "none"
                probability = assignment.share * p
            offer = offers[shown - 1] if shown else None
            self._n_ids += 1
            decision_id = f"{self._id_base + self._n_ids:013x}{self._ids(28):07x}"
            row, last = decision_row(
                active, request, pseudonym, assignment, arm, shown, probability, x, decision_id
            )
            self._memory.record_decision(pseudonym, row, last)
            active.guards.record(pseudonym, ts, None if offer is None else shown - 1)
            self._count(active.version, layer, shown, offer)
            latency_us = (time.perf_counter_ns() - start) / 1000.0
            self._latency.record(latency_us)
            full = self._maintainer is None and self._memory.buffered >= self._batch
        if full or self._memory.buffered >= 8 * self._batch:  # inline mode, or back-pressure
            with self._commit_lock:
                self._maint.run_once(self._active)
        return Decision(
            decision_id,
            offer,
            probability,
            settings.experiment,
            arm,
            (*reasons, *blocked, *assignment.tags),
            active.version,
            latency_us,
            score,
            layer=layer,
            assignments=assignment.others,
        )

    # -- outcomes -------------------------------------------------------------------------
    def observe(self, event: Event, *, durable: bool = True) -> None:
        """Learn from one outcome event whose ``user`` is the raw id.

        Raises ``EventError`` / ``UnknownOfferError`` for a bad event. With ``durable``
        (default) the event is written before this returns; a re-delivered event id is
        ignored.
        """
        result = self.observe_many([event], durable=durable)
        if result.rejected:
            raise result.errors[0]

    def observe_many(self, events: Sequence[Any], *, durable: bool = True) -> ObserveResult:
        """Fold a batch of events in; with ``durable`` they are written before returning.

        Accepts ``Event`` objects or raw dicts; bad ones are rejected with their reason
        (the rest still counts). Duplicated event ids are counted, not applied twice.
        """
        result = ObserveResult()
        for index, raw in enumerate(events):
            try:
                event = validate_event(raw.to_dict() if isinstance(raw, Event) else raw)
                self._check_offer(event)
            except (EventError, EdgeError) as exc:
                result.reject(index, exc)
                continue
            pseudonym = self._pseudo.pseudonym(event.user)
            key = self._pseudo.pseudonym(f"event:{event.event_id}")
            with self._lock:
                active = self._active
                model = active.settings.attribution if active else "last_touch"
                applied = self._memory.apply_event(
                    event, pseudonym, key, self._settings, model, self._on_conversion
                )
            if applied:
                result.accepted += 1
            else:
                result.duplicates += 1
        if durable and (result.accepted or result.duplicates):
            self.commit()
        return result

    def _check_offer(self, event: Event) -> None:
        check_offer(self._active, event)

    def _on_conversion(self, last: LastDecision) -> None:
        """Counters a conversion updates (called under the lock)."""
        active = self._active
        count_conversion(active, self._health.get(active.version) if active else None,
                         self._posteriors, last)  # fmt: skip

    # -- reports, erasure and figures -----------------------------------------------------
    def close_days(self, until_day: int) -> Release:
        """Report every closed day < ``until_day`` not reported yet: rows queued in the
        outbox, releases the privacy ledger refused (with the reason), rows dropped."""
        self.flush()
        with self._commit_lock, self._lock:
            release = release_days(
                self._store,
                self._ledger,
                self._settings,
                self.node_id,
                until_day,
                max_outbox=self.outbox.max_rows,
            )
        self.outbox.note_dropped(release.dropped)
        return release

    def reports(self, until_day: int) -> list[dict[str, Any]]:
        """Noised report rows of every closed day < ``until_day`` not reported yet.

        The rows are queued in the outbox (they survive restarts) and returned.
        """
        return self.close_days(until_day).rows

    def erase_user(self, user: str) -> dict[str, int]:
        """Erase a user (raw id) from memory and the database (agreement 2); counts per table.

        DP rows already released hold no user and cannot be changed; decisions of days not
        yet reported are gone, so the user is not counted in them.
        """
        pseudonym = self._pseudo.pseudonym(user)
        with self._commit_lock:
            with self._lock:
                memory = self._memory.forget(pseudonym)
                active = self._active
                if active is not None:
                    active.guards.forget(pseudonym)
                    active.users.pop(user, None)
            counts = self._store.erase(pseudonym)
        for hook in self._erase_hooks:  # outside the runtime's locks: hooks take their own
            hook(pseudonym)
        return {**counts, **memory}

    def on_erase(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(pseudonym)`` after each erasure, for what else holds user state in
        this process (the federated learner)."""
        self._erase_hooks.append(hook)

    def stats(self) -> dict[str, Any]:
        """Heartbeat and status figures (see docs/edge.md, "Status and metrics")."""
        with self._lock:
            recent = self._latency.recent()
            active = self._active
            data = {
                "by_version": dict(self._by_version),
                "by_offer": dict(self._by_offer),
                "health": None if active is None else self._health[active.version],
                "attributed": {k: tuple(v) for k, v in self._memory.attributed.items()},
                "events": dict(self._memory.events_by_type),
                "duplicates": self._memory.duplicates,
                "blocked": {} if active is None else dict(active.guards.blocked),
                "drift": {} if active is None else active.drift.psi(),
                "latency_histogram": self._latency.histogram(),
            }
        return node_stats(self, active, recent, data)

    @property
    def store(self) -> StateStore:
        """The node's state store (outbox access for the sync agent)."""
        return self._store

    @property
    def ledger(self) -> PrivacyLedger:
        """The node's privacy ledger."""
        return self._ledger

    def commit(self) -> None:
        """Write every change so far in one transaction (group commit across threads)."""
        with self._commit_lock:
            self._maint.write(self._active)

    def flush(self) -> None:
        """Learn resolved outcomes, redraw the policy's ensemble and write everything now."""
        with self._commit_lock:
            self._maint.run_once(self._active, force=True)

    def close(self) -> None:
        """Stop the maintenance thread, flush everything and close the database."""
        self._closing.set()
        if self._maintainer is not None:
            self._maintainer.join(timeout=30)
        self.flush()
        self._store.close()
        active = self._active
        if active is not None and active.content is not None:
            with self._content_lock:
                active.content.close()

    # -- internals ------------------------------------------------------------------------
    def _count(self, version: str, layer: str, shown: int, offer: str | None) -> None:
        self._by_version[version] = self._by_version.get(version, 0) + 1
        key = (offer or "none", layer)
        self._by_offer[key] = self._by_offer.get(key, 0) + 1
        health = self._health[version]
        health.decisions += 1
        if layer == HOLDOUT:
            health.holdout_exposures += 1
        elif shown:
            health.treatment_exposures += 1

    def _touch_lookback(self, experiment: str, offer: str) -> float:
        settings = self._settings.get(experiment)
        return 0.0 if settings is None else settings.lookback_s(offer)
