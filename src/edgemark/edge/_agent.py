"""The sync agent: fetch the assigned bundle, verify and swap it, heartbeat, flush reports.

Hub failures never stop decisions: every step catches ``HubError`` and is retried at the
next sync. A bundle that fails verification is reported once per version in heartbeats
(``bundle_error``) and not downloaded again until the assignment changes.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from edgemark.bundle import BundleStore
from edgemark.edge._hub_client import NodeHubClient
from edgemark.edge._runtime import Runtime
from edgemark.errors import BundleError, HubError

log = logging.getLogger(__name__)
_REPORT_BATCH = 500


class SyncAgent:
    """Keeps one ``Runtime`` in step with the hub through ``client``.

    On construction it reloads the last good bundle, so a restarted node serves at once.
    """

    def __init__(self, runtime: Runtime, client: NodeHubClient, store: BundleStore) -> None:
        self.runtime = runtime
        self.client = client
        self.store = store
        self.bundle_error: dict[str, str] | None = None
        self._failed_version: str | None = None
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> str | None:
        """Reload the bundle that served before a restart; return its version (or None)."""
        if self.runtime.active_version is not None:
            return self.runtime.active_version
        try:
            manifest = self.runtime.reload_last()
        except BundleError as exc:
            log.warning("last bundle no longer verifies: %s", exc)
            return None
        return None if manifest is None else manifest.version

    def sync_once(self) -> dict[str, Any]:
        """One round: assignment → maybe swap → heartbeat → flush outbox. Never raises HubError."""
        with self._lock:
            errors: list[str] = []
            assigned = self._maybe_swap(errors)
            self.runtime.flush()
            heartbeat_ok = self._heartbeat(errors)
            sent = self._flush_reports(errors)
            return {
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

    def _maybe_swap(self, errors: list[str]) -> str | None:
        try:
            assignment = self.client.assignment()
        except HubError as exc:
            errors.append(str(exc))
            return None
        version = assignment.get("version")
        if not isinstance(version, str) or version == self.runtime.active_version:
            return version if isinstance(version, str) else None
        if version == self._failed_version:
            return version
        try:
            data = self.client.download_bundle(version)
        except HubError as exc:
            errors.append(str(exc))
            return version
        try:
            digest, path = self.store.put(data)
            expected = assignment.get("sha256")
            if expected and expected != digest:
                raise BundleError(
                    f"Downloaded bundle {version} has sha256 {digest[:12]}…, the hub "
                    f"assigned {str(expected)[:12]}…; refusing it."
                )
            self.runtime.load(path)
        except BundleError as exc:
            self._failed_version = version
            self.bundle_error = {"version": version, "reason": str(exc)[:1900]}
            errors.append(str(exc))
            return version
        self._failed_version = None
        self.bundle_error = None
        return version

    def _heartbeat(self, errors: list[str]) -> bool:
        stats = self.runtime.stats()
        payload = {
            "active_version": stats["active_version"],
            "decisions_by_version": stats["decisions_by_version"],
            "latency_p50_us": stats["latency_p50_us"],
            "latency_p99_us": stats["latency_p99_us"],
            "bundle_error": self.bundle_error,
        }
        try:
            self.client.heartbeat(payload)
        except HubError as exc:
            errors.append(str(exc))
            return False
        return True

    def _flush_reports(self, errors: list[str]) -> int:
        sent = 0
        while rows := self.runtime.store.unsent(_REPORT_BATCH):
            try:
                self.client.send_reports(rows)
            except HubError as exc:
                errors.append(str(exc))
                break
            self.runtime.store.mark_sent(r["idempotency_key"] for r in rows)
            sent += len(rows)
        return sent
