"""The edge ``Runtime``: verify and swap bundles, decide, observe outcomes, report.

One immutable ``_Active`` reference holds everything built from the loaded bundle; ``load``
builds a new one off to the side and swaps the reference, so a failed load never disturbs
the bundle that is serving. decide/observe/reports share one uncontended lock. The hot path
does no I/O: a maintenance thread (every ``maintenance_interval_s``) writes buffered
decisions, posteriors and feature states to SQLite and re-estimates the policy's choice
probabilities, holding the lock only to take snapshots.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.bundle import Manifest, TrustStore, verify_bundle
from edgemark.edge._holdout import in_holdout
from edgemark.edge._policy import ThompsonPolicy
from edgemark.edge._reports import build_day_rows
from edgemark.edge._settings import PolicySettings, parse_policy
from edgemark.edge._state import StateStore
from edgemark.edge._types import Decision, DecisionRequest
from edgemark.errors import (
    BundleError,
    BundleSignatureError,
    EventError,
    NoBundleError,
    UnknownOfferError,
)
from edgemark.events import Event, Pseudonymizer, validate_event
from edgemark.features import DEFAULT_SPEC, OnlineFeatures
from edgemark.models import OnnxScorer

log = logging.getLogger(__name__)
_DAY = 86400
_RING = 4096


@dataclass(frozen=True, slots=True)
class _Active:
    manifest: Manifest
    bundle_dir: Path
    settings: PolicySettings
    offer_index: dict[str, int]
    scorer: OnnxScorer
    policy: ThompsonPolicy


@dataclass(slots=True)
class _Last:
    decision_id: str
    ts: float
    experiment: str
    arm: str
    converted: bool


class Runtime:
    """Decides on this touchpoint from a verified bundle and learns from outcomes.

    Parameters
    ----------
    state_dir : directory of the node's SQLite state and key file (created if missing).
    node_id : the node's name; part of report idempotency keys and the policy's seed.
    trust : keys a bundle must be signed with; without it no bundle loads.
    key : pseudonymisation key; default: ``state_dir/node.key`` (created on first start).
    seed : seed of the policy's random generator (combined with ``node_id``).
    maintenance_interval_s : period of the background writer; ``None`` runs maintenance
        inline every ``batch_size`` decisions instead (deterministic, for simulations).
        A crash loses at most the decisions of one period (or one batch).
    batch_size : buffered decisions that force an inline flush (default 256 inline,
        8192 with the background writer, as back-pressure).
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
    ) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self._trust = trust
        self._pseudo = self._pseudonymizer(key)
        self._rng = np.random.default_rng([seed, zlib.crc32(node_id.encode())])
        self._maintenance_rng = np.random.default_rng([seed, zlib.crc32(node_id.encode()), 1])
        self._lock = threading.RLock()
        self._maintain_lock = threading.Lock()
        inline = maintenance_interval_s is None
        batch = batch_size if batch_size is not None else (256 if inline else 8192)
        self._store = StateStore(self.state_dir / "edge.db", batch_size=batch)
        self._features = OnlineFeatures(DEFAULT_SPEC)
        for pseudonym, state in self._store.user_states().items():
            self._features.load_state(pseudonym, state)
        self._dirty: set[str] = set()
        self._forgotten: set[str] = set()
        self._posteriors = self._store.posteriors()
        self._settings = self._load_settings()
        self._last = {
            p: _Last(i, t, e, a, c) for p, i, t, e, a, _o, c in self._store.last_decisions()
        }
        self._by_version = self._store.decisions_by_version()
        self._latency = np.zeros(_RING, dtype=np.float64)
        self._n_latency = 0
        self._active: _Active | None = None
        self._inline = inline
        self._closing = threading.Event()
        self._maintainer: threading.Thread | None = None
        if maintenance_interval_s is not None:
            self._maintainer = threading.Thread(
                target=self._maintain_forever,
                args=(maintenance_interval_s,),
                name=f"edge-maintenance-{node_id}",
                daemon=True,
            )
            self._maintainer.start()

    # -- bundles --------------------------------------------------------------------------
    def load(self, bundle_dir: str | os.PathLike[str]) -> Manifest:
        """Verify the bundle in ``bundle_dir`` and make it the serving bundle.

        Raises the ``BundleError`` of the first failed check; the current bundle keeps
        serving in that case.
        """
        if self._trust is None:
            raise BundleSignatureError(
                "This runtime has no trust store, so no bundle can be verified; start it "
                "with trust=TrustStore.from_directory(<dir of trusted *.pub keys>)."
            )
        path = Path(bundle_dir)
        manifest = verify_bundle(path, self._trust)
        if manifest.feature_spec_hash != DEFAULT_SPEC.spec_hash():
            raise BundleError(
                f"Bundle {manifest.version} was built for feature spec "
                f"{manifest.feature_spec_hash[:12]}, this node computes "
                f"{DEFAULT_SPEC.spec_hash()[:12]}; rebuild it with the node's spec."
            )
        settings = parse_policy(manifest.policy, manifest.offers)
        scorer = self._scorer(path, manifest.version)
        policy = ThompsonPolicy(
            settings.offers, settings.prior_alpha, settings.prior_beta, self._rng
        )
        with self._lock:
            self._save_active_counts()
            policy.load_counts(
                {
                    o: self._posteriors.get((settings.experiment, o), (0.0, 0.0))
                    for o in settings.offers
                }
            )
            self._settings[settings.experiment] = settings
            self._store.set_meta(f"policy:{settings.experiment}", settings.to_json())
            self._store.set_meta("active_version", manifest.version)
            self._store.set_meta("active_dir", str(path.resolve()))
            index = {o: i for i, o in enumerate(settings.offers)}
            self._active = _Active(manifest, path, settings, index, scorer, policy)
        return manifest

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
        return None if active is None else active.manifest.version

    # -- hot path -------------------------------------------------------------------------
    def decide(self, request: DecisionRequest) -> Decision:
        """Choose an offer (or the holdout) for one request; see CONTRACTS.md "Edge"."""
        start = time.perf_counter_ns()
        active = self._active
        if active is None:
            raise NoBundleError(
                "No verified bundle is loaded; sync with the hub (POST /v1/sync) or "
                "Runtime.load(<bundle dir>) first."
            )
        settings = active.settings
        pseudonym = self._pseudo.pseudonym(request.user)
        with self._lock:
            if request.consent_personalization:
                score: float | None = active.scorer.score_one(
                    self._features.vector(pseudonym, request.ts)
                )
                reasons: tuple[str, ...] = ()
            else:
                score, reasons = None, ("no_personalization_consent",)
            if in_holdout(settings.salt, pseudonym, settings.holdout_share):
                offer, arm, probability = None, "holdout", settings.holdout_share
                reasons += ("holdout",)
            else:
                index, p = active.policy.choose()
                active.policy.record_exposure(index)
                offer = arm = settings.offers[index]
                probability = (1.0 - settings.holdout_share) * p
                reasons += ("thompson",)
            decision_id = os.urandom(10).hex()
            version = active.manifest.version
            self._last[pseudonym] = _Last(decision_id, request.ts, settings.experiment, arm, False)
            full = self._store.add_decision(
                (
                    decision_id,
                    pseudonym,
                    request.ts,
                    int(request.ts // _DAY),
                    settings.experiment,
                    arm,
                    offer,
                    probability,
                    version,
                    int(request.consent_measurement),
                )
            )
            self._by_version[version] = self._by_version.get(version, 0) + 1
            latency_us = (time.perf_counter_ns() - start) / 1000.0
            self._latency[self._n_latency % _RING] = latency_us
            self._n_latency += 1
        if full:  # back-pressure (or inline mode): persist before the next decision
            self._maintain()
        return Decision(
            decision_id,
            offer,
            probability,
            settings.experiment,
            arm,
            reasons,
            version,
            latency_us,
            score,
        )

    # -- outcomes -------------------------------------------------------------------------
    def observe(self, event: Event) -> None:
        """Learn from one outcome event whose ``user`` is the raw id (see module docs)."""
        if not isinstance(event, Event):
            raise EventError(f"observe() takes an Event, got {type(event).__name__}.")
        event = validate_event(event.to_dict())
        active = self._active
        if (
            event.type in ("exposure", "redeem")
            and active is not None
            and event.offer not in active.offer_index
        ):
            raise UnknownOfferError(
                f"Event {event.event_id!r} names offer {event.offer!r}, which bundle "
                f"{active.manifest.version} does not know (offers: {list(active.offer_index)})."
            )
        pseudonym = self._pseudo.pseudonym(event.user)
        with self._lock:
            if event.type == "consent" and not event.consent_personalization:
                self._features.forget(pseudonym)
                self._forgotten.add(pseudonym)
                self._dirty.discard(pseudonym)
            elif event.consent_personalization:
                self._features.update(pseudonym, event.type, event.ts, event.amount)
                self._dirty.add(pseudonym)
                self._forgotten.discard(pseudonym)
            if event.type == "purchase":
                self._attribute(pseudonym, event.ts, float(event.amount or 0.0))

    def _attribute(self, pseudonym: str, ts: float, amount: float) -> None:
        last = self._last.get(pseudonym)
        if last is None or last.converted:
            return
        settings = self._settings.get(last.experiment)
        if settings is None or not 0.0 <= ts - last.ts <= settings.lookback_hours * 3600.0:
            return
        last.converted = True
        self._store.add_conversion(last.decision_id, ts, min(amount, settings.revenue_cap))
        if last.arm == "holdout":
            return
        active = self._active
        if active is not None and active.settings.experiment == last.experiment:
            index = active.offer_index.get(last.arm)
            if index is not None:
                active.policy.record_conversion(index)
                return
        key = (last.experiment, last.arm)
        exposures, conversions = self._posteriors.get(key, (0.0, 0.0))
        self._posteriors[key] = (exposures, min(conversions + 1.0, exposures))

    # -- reports and figures --------------------------------------------------------------
    def reports(self, until_day: int) -> list[dict[str, Any]]:
        """Noised report rows of every closed day < ``until_day`` not reported yet.

        The rows are queued in the outbox (they survive restarts) and returned.
        """
        rows: list[dict[str, Any]] = []
        self._maintain()
        with self._lock:
            for day in self._store.unreported_days(until_day):
                day_rows, counted = build_day_rows(
                    self.node_id, day, self._store.day_decisions(day), self._settings
                )
                self._store.commit_report(day, counted, day_rows)
                rows.extend(day_rows)
        return rows

    def stats(self) -> dict[str, Any]:
        """Heartbeat figures: active version, decisions per version, latency p50/p99 (µs)."""
        with self._lock:
            n = min(self._n_latency, _RING)
            recent = self._latency[:n]
            by_version = dict(self._by_version)
        p50, p99 = np.percentile(recent, [50, 99]).tolist() if n else (None, None)
        return {
            "node_id": self.node_id,
            "active_version": self.active_version,
            "decisions_by_version": by_version,
            "latency_p50_us": p50,
            "latency_p99_us": p99,
            "unsent_reports": len(self._store.unsent()),
        }

    @property
    def store(self) -> StateStore:
        """The node's state store (outbox access for the sync agent)."""
        return self._store

    def flush(self) -> None:
        """Write buffered decisions, posteriors and feature states to SQLite now."""
        self._maintain()

    def close(self) -> None:
        """Stop the maintenance thread, flush everything and close the database."""
        self._closing.set()
        if self._maintainer is not None:
            self._maintainer.join(timeout=30)
        self._maintain()
        with self._lock:
            self._store.close()

    # -- internals ------------------------------------------------------------------------
    def _maintain_forever(self, interval_s: float) -> None:
        while not self._closing.wait(interval_s):
            try:
                self._maintain()
            except Exception:  # keep serving; the next round retries the write
                log.exception("edge state maintenance failed")

    def _maintain(self) -> None:
        """Persist what changed and re-estimate stale policy probabilities (off the hot path).

        Never called with ``_lock`` held: ``_maintain_lock`` (which orders the writes) comes
        first.
        """
        with self._maintain_lock:
            self._maintain_once()

    def _maintain_once(self) -> None:
        with self._lock:
            active = self._active
            rows = self._store.take_pending()
            self._save_active_counts()
            posteriors = dict(self._posteriors)
            states = {u: self._features.state_of(u) for u in self._dirty}
            forgotten = list(self._forgotten)
            self._dirty.clear()
            self._forgotten.clear()
            posterior = active.policy.snapshot() if active and active.policy.stale else None
        self._store.flush(posteriors, states, rows, forgotten)
        if active is not None and posterior is not None:
            pi = active.policy.estimate(*posterior, self._maintenance_rng)
            with self._lock:
                active.policy.install(pi)

    def _save_active_counts(self) -> None:
        active = self._active
        if active is not None:
            for offer, counts in active.policy.counts().items():
                self._posteriors[(active.settings.experiment, offer)] = counts

    def _load_settings(self) -> dict[str, PolicySettings]:
        settings: dict[str, PolicySettings] = {}
        for key, value in self._store.meta_items("policy:"):
            settings[key.removeprefix("policy:")] = PolicySettings.from_json(value)
        return settings

    def _pseudonymizer(self, key: bytes | None) -> Pseudonymizer:
        if key is not None:
            return Pseudonymizer(key)
        path = self.state_dir / "node.key"
        if path.exists():
            return Pseudonymizer.from_key_file(path)
        return Pseudonymizer.create_key_file(path)

    @staticmethod
    def _scorer(path: Path, version: str) -> OnnxScorer:
        try:
            scorer = OnnxScorer(path / "model.onnx")
            scorer.score_one(np.zeros(len(DEFAULT_SPEC.names), dtype=np.float64))
        except Exception as exc:  # any failure to score means the model is unusable
            raise BundleError(
                f"Bundle {version}: model.onnx does not score a {len(DEFAULT_SPEC.names)}-"
                f"feature row ({exc}); rebuild the bundle with a model for this spec."
            ) from exc
        return scorer
