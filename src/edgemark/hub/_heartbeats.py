"""Heartbeats by group commit, and the rollout controller's clock, on one writer thread.

A heartbeat request is answered only after its transaction committed, but the writer takes
every heartbeat that queued up meanwhile into the same transaction: one token lookup, one
executemany UPDATE and one commit per batch instead of per request. The same thread runs
the controller's ``tick`` every ``interval_s`` (soak time, gates while nodes are quiet).
"""

from __future__ import annotations

import hmac
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, bindparam, select, update
from sqlalchemy.orm import Session

from edgemark.errors import AuthError, HubError
from edgemark.hub import _rollouts
from edgemark.hub._db import Node
from edgemark.hub._schemas import HeartbeatIn
from edgemark.hub._sql import table_of

log = logging.getLogger(__name__)
_CHUNK = 500
_STOP = object()


@dataclass(frozen=True)
class Job:
    """One heartbeat waiting for the writer: the node token's hash and the validated body."""

    token_sha256: str
    body: HeartbeatIn


Result = AuthError | _rollouts.Assignment


def record(session: Session, jobs: Sequence[Job], now: float) -> list[Result]:
    """Write a batch of heartbeats in the caller's transaction; one result per job: the
    node's assignment after the batch, or the AuthError for an unknown or revoked token."""
    nodes = _nodes_by_token(session, {j.token_sha256 for j in jobs})
    results: list[Result | str] = []
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    beats: list[_rollouts.Beat] = []
    for job in jobs:
        node = nodes.get(job.token_sha256)
        if node is None or not hmac.compare_digest(node[2], job.token_sha256):
            results.append(AuthError("Invalid token: no enrolled node has it; re-enrol.", 401))
            continue
        if node[3] is not None:
            results.append(AuthError(f"Node {node[0]} was revoked; re-enrol it.", 401))
            continue
        results.append(node[0])
        body = job.body
        rows.append(_row(node[0], body, now))
        error = (body.bundle_error.version, body.bundle_error.reason) if body.bundle_error else None
        if error is not None:
            errors.append({"b_id": node[0], "b_error": {"version": error[0], "reason": error[1]}})
        beats.append(_rollouts.Beat(node[0], node[1], body.active_version, error))
    if rows:
        session.execute(_UPDATE, rows)
    if errors:
        session.execute(_ERROR_UPDATE, errors)
    waves = _rollouts.apply_heartbeats(session, beats, now)
    lookup = _rollouts.assignments_for(session, waves)
    return [lookup(r) if isinstance(r, str) else r for r in results]


def _nodes_by_token(session: Session, digests: set[str]) -> dict[str, tuple[Any, ...]]:
    wanted = sorted(digests)
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = select(Node.id, Node.name, Node.token_sha256, Node.revoked_at).where(
            Node.token_sha256.in_(wanted[start : start + _CHUNK])
        )
        found.update((row[2], tuple(row)) for row in session.execute(query))
    return found


def _row(node_id: str, body: HeartbeatIn, now: float) -> dict[str, Any]:
    health = body.health
    by_version = dict(body.decisions_by_version)
    if health is None:  # derive what the basic figures allow
        version = body.active_version
        decisions = by_version.get(version) if version is not None else None
        values: tuple[Any, ...] = (version, decisions, None, body.latency_p99_us, None,
                                   None, None, None, None)  # fmt: skip
    else:
        values = (
            health.version, health.decisions, health.errors, health.decide_p99_us,
            health.drift_psi, health.treatment_exposures, health.treatment_conversions,
            health.holdout_exposures, health.holdout_conversions,
        )  # fmt: skip
    row = dict(zip(_HEALTH_KEYS, values, strict=True))
    row.update(
        b_id=node_id, b_active=body.active_version, b_now=now, b_by_version=by_version,
        b_p50=body.latency_p50_us, b_p99=body.latency_p99_us,
    )  # fmt: skip
    return row


_HEALTH_COLUMNS = (
    "h_version", "h_decisions", "h_errors", "h_p99_us", "h_psi",
    "h_t_exposures", "h_t_conversions", "h_h_exposures", "h_h_conversions",
)  # fmt: skip
_HEALTH_KEYS = tuple("b_" + c for c in _HEALTH_COLUMNS)
_T = table_of(Node)
_UPDATE = (
    update(_T)
    .where(_T.c.id == bindparam("b_id"))
    .values(
        active_version=bindparam("b_active"),
        last_heartbeat=bindparam("b_now"),
        heartbeats=_T.c.heartbeats + 1,
        decisions_by_version=bindparam("b_by_version", type_=JSON),
        latency_p50_us=bindparam("b_p50"),
        latency_p99_us=bindparam("b_p99"),
        **{c: bindparam("b_" + c) for c in _HEALTH_COLUMNS},
    )
)
_ERROR_UPDATE = (
    update(_T).where(_T.c.id == bindparam("b_id")).values(last_error=bindparam("b_error", JSON))
)


class HeartbeatWriter:
    """The writer thread: ``submit`` queues a heartbeat, the returned future resolves once
    it is committed (result: the node's ``Assignment`` or an ``AuthError``)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        write_lock: AbstractContextManager[Any],
        *,
        interval_s: float = 1.0,
        batch_max: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._lock = write_lock
        self._interval = interval_s
        self._batch_max = batch_max
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="edgemark-hub-writer", daemon=True)
        self.batches = 0

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)

    def submit(self, job: Job) -> Future[Result]:
        """Queue one heartbeat; the future resolves after its batch committed."""
        future: Future[Result] = Future()
        if not self._thread.is_alive():
            future.set_exception(HubError("The hub is shutting down; retry shortly.", 503))
            return future
        self._queue.put((job, future))
        return future

    def _run(self) -> None:
        next_tick = time.monotonic() + self._interval
        stopping = False
        while not stopping:
            batch, stopping = self._take(max(0.0, next_tick - time.monotonic()))
            if batch:
                self._write(batch)
            if time.monotonic() >= next_tick and not stopping:
                self._tick()
                next_tick = time.monotonic() + self._interval

    def _take(self, timeout: float) -> tuple[list[tuple[Job, Future[Any]]], bool]:
        try:
            first = self._queue.get(timeout=timeout)
        except queue.Empty:
            return [], False
        batch: list[tuple[Job, Future[Any]]] = []
        item = first
        while True:
            if item is _STOP:
                return batch, True
            batch.append(item)
            if len(batch) >= self._batch_max:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False

    def _write(self, batch: list[tuple[Job, Future[Any]]]) -> None:
        try:
            with self._transaction() as session:
                results = record(session, [job for job, _ in batch], time.time())
        except Exception as exc:
            log.error(
                "heartbeat batch of %d failed: %s", len(batch), type(exc).__name__, exc_info=True
            )
            error = HubError("The hub could not store the heartbeat; retry shortly.", 503)
            for _, future in batch:
                future.set_exception(error)
            return
        self.batches += 1
        for (_, future), result in zip(batch, results, strict=True):
            future.set_result(result)

    def _tick(self) -> None:
        try:
            with self._transaction() as session:
                _rollouts.tick(session, time.time())
        except Exception:  # the next tick retries; the state in the database is intact
            log.exception("rollout controller tick failed")

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._lock, self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
