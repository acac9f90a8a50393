"""The sync agent: heartbeat, swap to the assigned bundle, flush reports.

Hub failures never stop decisions: every step catches ``HubError`` and is retried at the
next sync. ``Runtime.load`` verifies a bundle and runs its self-test before it swaps the
one serving reference, so a refused bundle never serves a decision; the agent reports the
refusal in heartbeats (``bundle_error``, once per version, not downloaded again until the
assignment changes) and keeps the last good bundle. It remembers which bundles loaded
well (``agent.json`` beside the bundle store), so a rollback to one of them needs no
download, and a node whose last bundle no longer loads after a restart falls back to the
newest good one that still does.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from edgemark.bundle import BundleStore
from edgemark.edge._federated import FederatedLearner, federated_step
from edgemark.edge._hub_client import NodeHubClient
from edgemark.edge._runtime import Runtime
from edgemark.errors import AuthError, BundleError, EdgemarkError, HubError
from edgemark.observe import span

log = logging.getLogger(__name__)
_REPORT_BATCH = 500
_KEEP_GOOD = 5
_HEALTH_COUNTS = ("decisions", "errors", "treatment_exposures", "treatment_conversions",
                  "holdout_exposures", "holdout_conversions")  # fmt: skip


class GoodBundles:
    """Versions that loaded and served on this node, newest last, with their directories."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._good: dict[str, str] = {}
        try:
            loaded = json.loads(path.read_text())
            self._good = {str(k): str(v) for k, v in loaded.get("good", {}).items()}
        except (OSError, ValueError, AttributeError):
            self._good = {}

    def remember(self, version: str, bundle_dir: Path) -> None:
        """Record a good version (moves it to the newest place; keeps the last few)."""
        self._good.pop(version, None)
        self._good[version] = str(bundle_dir.resolve())
        while len(self._good) > _KEEP_GOOD:
            self._good.pop(next(iter(self._good)))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"good": self._good}))
        os.replace(tmp, self.path)  # atomic: a crash leaves the old or the new file

    def path_of(self, version: str) -> Path | None:
        """The directory of a good version, if it is still on disk."""
        found = self._good.get(version)
        return Path(found) if found and Path(found).is_dir() else None

    def newest_first(self) -> list[tuple[str, Path]]:
        """Good versions still on disk, newest first."""
        return [(v, Path(p)) for v, p in reversed(self._good.items()) if Path(p).is_dir()]


class SyncAgent:
    """Keeps one ``Runtime`` in step with the hub through ``client``.

    On construction it reloads the last good bundle, so a restarted node serves at once.
    """

    def __init__(self, runtime: Runtime, client: NodeHubClient, store: BundleStore) -> None:
        self.runtime = runtime
        self.client = client
        self.store = store
        self.good = GoodBundles(store.root / "agent.json")
        self.bundle_error: dict[str, str] | None = None
        self._failed_version: str | None = None
        self._lock = threading.Lock()
        # Federated learning is opt-in (EDGEMARK_FEDERATED=1): the node then answers the
        # hub's open federated task with a clipped, noised update at each sync.
        self.federated: FederatedLearner | None = None
        if os.environ.get("EDGEMARK_FEDERATED") == "1":
            self.federated = FederatedLearner(runtime.state_dir, spec=runtime.spec)
            runtime.on_erase(self._forget)
        self.restore()

    def _forget(self, pseudonym: str) -> None:
        with self._lock:  # not in the middle of a sync's federated step
            if self.federated is not None:
                self.federated.forget(pseudonym)

    def restore(self) -> str | None:
        """Reload the bundle that served before a restart, else the newest good one that
        still loads; return its version (or None)."""
        if self.runtime.active_version is not None:
            return self.runtime.active_version
        try:
            manifest = self.runtime.reload_last()
        except BundleError as exc:
            log.warning("last bundle no longer loads (%s); trying earlier good bundles", exc)
            manifest = None
        if manifest is not None:
            return manifest.version
        for version, path in self.good.newest_first():
            try:
                return self.runtime.load(path).version
            except BundleError as exc:
                log.warning("good bundle %s no longer loads: %s", version, exc)
        return None

    def sync_once(self) -> dict[str, Any]:
        """One round: heartbeat (its answer carries the assignment) → maybe swap → heartbeat
        again if anything changed → flush the outbox. Never raises HubError.

        While nothing changes a sync is one round trip; a hub that does not answer with an
        assignment is asked for it (GET /v1/assignment).
        """
        # Traced around the round, never inside Runtime.decide (a no-op unless configured).
        with self._lock, span("edge.sync", {"edgemark.node_id": self.runtime.node_id}):
            errors: list[str] = []
            self.runtime.flush()
            answer = self._heartbeat(errors)
            assignment = answer.get("assignment") if answer is not None else None
            if not isinstance(assignment, dict) and answer is not None:
                assignment = self._fetch_assignment(errors)
            before = (self.runtime.active_version, self.bundle_error)
            assigned = self._maybe_swap(assignment, errors) if assignment is not None else None
            if (self.runtime.active_version, self.bundle_error) != before:
                answer = self._heartbeat(errors)  # tell the hub at once: soak counts start
            heartbeat_ok = answer is not None
            sent = self._flush_reports(errors)
            learned = False
            if self.federated is not None and heartbeat_ok:
                learned = federated_step(self.federated, self.client, errors)
            return {
                "federated_update": learned,
                "assigned_version": assigned,
                "active_version": self.runtime.active_version,
                "bundle_error": self.bundle_error,
                "heartbeat": heartbeat_ok,
                "reports_sent": sent,
                "errors": errors,
            }

    def run_forever(self, interval_s: float, stop_event: threading.Event) -> None:
        """Sync every ``interval_s`` seconds until ``stop_event`` is set."""
        while not stop_event.is_set():
            result = self.sync_once()
            for error in result["errors"]:
                log.warning("sync: %s", error)
            stop_event.wait(interval_s)

    def _fetch_assignment(self, errors: list[str]) -> dict[str, Any] | None:
        try:
            return self.client.assignment()
        except HubError as exc:
            errors.append(_said(exc))
            return None

    def _maybe_swap(self, assignment: dict[str, Any], errors: list[str]) -> str | None:
        version = assignment.get("version")
        if not isinstance(version, str) or version == self.runtime.active_version:
            return version if isinstance(version, str) else None
        if version == self._failed_version:
            return version
        try:
            with span("edge.swap", {"edgemark.version": version}):
                path = self.good.path_of(version) or self._download(version, assignment)
                self.runtime.load(path)  # verifies and self-tests before it swaps
        except HubError as exc:
            errors.append(_said(exc))
            return version
        except BundleError as exc:
            self._refuse(version, exc, errors)
            return version
        self.good.remember(version, path)
        self._failed_version = None
        self.bundle_error = None
        return version

    def _download(self, version: str, assignment: dict[str, Any]) -> Path:
        data = self.client.download_bundle(version)
        digest, path = self.store.put(data)
        expected = assignment.get("sha256")
        if expected and expected != digest:
            raise BundleError(
                f"Downloaded bundle {version} has sha256 {digest[:12]}…, the hub "
                f"assigned {str(expected)[:12]}…; refusing it."
            )
        return path

    def _refuse(self, version: str, exc: BundleError, errors: list[str]) -> None:
        kept = self.runtime.active_version or "nothing"
        log.warning("refused bundle %s, still serving %s: %s", version, kept, exc)
        self._failed_version = version
        self.bundle_error = {"version": version, "reason": str(exc)[:1900]}
        errors.append(str(exc))

    def _heartbeat(self, errors: list[str]) -> dict[str, Any] | None:
        stats = self.runtime.stats()
        payload: dict[str, Any] = {
            "active_version": stats["active_version"],
            "decisions_by_version": stats["decisions_by_version"],
            "latency_p50_us": stats["latency_p50_us"],
            "latency_p99_us": stats["latency_p99_us"],
            "bundle_error": self.bundle_error,
        }
        health = _health(stats.get("health"))
        if health is not None:
            payload["health"] = health
        try:
            with span("edge.heartbeat"):
                return self.client.heartbeat(payload)
        except HubError as exc:
            errors.append(_said(exc))
            return None

    def _flush_reports(self, errors: list[str]) -> int:
        # The runtime's offline-first outbox paces retries (backoff with jitter) itself.
        with span("edge.reports"):
            delivery = self.runtime.outbox.deliver(self.client.send_reports, batch=_REPORT_BATCH)
        if delivery.error and not delivery.waited:
            errors.append(str(delivery.error))
        return int(delivery.sent)


def _health(raw: Any) -> dict[str, Any] | None:
    """The runtime's health figures made safe for the hub's schema (None if absent)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("version"), str):
        return None
    out: dict[str, Any] = {"version": raw["version"]}
    for key in _HEALTH_COUNTS:
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            out[key] = max(0, value)
    out.setdefault("decisions", 0)
    out["errors"] = min(out.get("errors", 0), out["decisions"])
    for arm in ("treatment", "holdout"):
        exposures = out.get(f"{arm}_exposures")
        if exposures is None:
            out.pop(f"{arm}_conversions", None)
        elif f"{arm}_conversions" in out:
            out[f"{arm}_conversions"] = min(out[f"{arm}_conversions"], exposures)
    for key, cap in (("decide_p99_us", 3.6e9), ("drift_psi", 1e6)):
        value = raw.get(key)
        if isinstance(value, int | float) and value == value and value >= 0:
            out[key] = min(float(value), cap)
    return out


def _said(exc: EdgemarkError) -> str:
    if isinstance(exc, AuthError):
        return f"{exc} (this node may have been revoked)"
    return str(exc)
