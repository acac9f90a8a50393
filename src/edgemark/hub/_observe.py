"""The hub's observability: request ids, access logs, traces, HTTP metrics and GET /metrics.

``Observe`` is a pure ASGI middleware (outermost, so it also sees the heartbeat fast
path): it gives each request an id (``X-Request-ID``, kept from the caller when sane),
times it into a histogram per route template (bounded labels), opens a server span when
tracing is configured, and logs errors and admin calls with the id. ``GET /metrics``
(read scope) adds fleet figures aggregated in SQL, never one series per node.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from edgemark.hub import _auth, _console_data
from edgemark.hub._db import AuditHead, Node, Rollout
from edgemark.hub._deps import HubState
from edgemark.observe import (
    CONTENT_TYPE,
    Exposition,
    Histogram,
    accept_request_id,
    adopt_loggers,
    request_id,
    server_span,
    tracing_enabled,
)

log = logging.getLogger("edgemark.hub.access")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]  # fmt: skip
_QUIET = ("/v1/heartbeats", "/v1/reports", "/v1/assignment", "/metrics", "/healthz")
router = APIRouter(include_in_schema=False)


class HttpStats:
    """Request counts by (method, route, status) and latency histograms by route."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, Histogram] = {}
        self._lock = threading.Lock()

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        key = (method, route, str(status))
        with self._lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            hist = self.latency.get(route) or self.latency.setdefault(route, Histogram())
        hist.observe(seconds)


class Observe:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, stats: HttpStats) -> None:
        self.app = app
        self.stats = stats
        self._routes: list[tuple[re.Pattern[str], str]] | None = None
        self._seen: dict[str, str] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            adopt_loggers()  # uvicorn configured its own handlers before the app started
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        rid = accept_request_id(given.decode("latin-1"))
        token = request_id.set(rid)
        route, method, status = self._route(scope), scope["method"], [500]
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            if tracing_enabled():
                attrs = {"http.request.method": method, "http.route": route}
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                with server_span(f"{method} {route}", headers, attrs) as span:
                    await self.app(scope, receive, send_with_id)
                    span.set_attribute("http.response.status_code", status[0])
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - started
            self.stats.record(method, route, status[0], took)
            self._log(method, route, status[0], took)
            request_id.reset(token)

    def _log(self, method: str, route: str, status: int, took: float) -> None:
        level = logging.INFO if status >= 400 or route not in _QUIET else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, "%s %s %d", method, route, status, extra={
                "method": method, "route": route, "status": status,
                "duration_ms": round(took * 1000, 3),
            })  # fmt: skip

    def _route(self, scope: Scope) -> str:
        if self._routes is None:  # the app's path templates: bounded labels
            app = scope.get("app")
            self._routes = _templates(getattr(getattr(app, "router", None), "routes", []))
        path = scope["path"]
        found = self._seen.get(path)
        if found is None:
            found = next((t for regex, t in self._routes if regex.match(path)), "other")
            if len(self._seen) < 4096:  # paths with ids are many; their templates are few
                self._seen[path] = found
        return found


def _templates(routes: list[Any]) -> list[tuple[re.Pattern[str], str]]:
    found: list[tuple[re.Pattern[str], str]] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router wrapper
        if included is not None:
            found += _templates(list(included.routes))
        elif hasattr(route, "path_regex"):
            found.append((route.path_regex, route.path))
    return found


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this hub process and the fleet (read scope)."""
    hub: HubState = request.app.state.hub
    stats: HttpStats = request.app.state.http_stats
    auth = request.headers.get("authorization")
    text = await run_in_threadpool(_render, hub, stats, auth)
    return Response(text, media_type=CONTENT_TYPE)


def _render(hub: HubState, stats: HttpStats, authorization: str | None) -> str:
    with hub.sessions() as session:
        _auth.require_scope(
            _auth.authenticate(session, hub.settings.admin_token, authorization), "read"
        )
        out = Exposition()
        _fleet(session, out)
        _privacy(session, out, hub.settings.privacy_budget)
    with stats._lock:
        counts = sorted(stats.counts.items())
        latency = sorted(stats.latency.items())
    requests = [({"method": m, "route": r, "status": s}, n) for (m, r, s), n in counts]
    out.family("edgemark_hub_http_requests_total", "counter", "Hub requests answered.", requests)
    out.histogram("edgemark_hub_http_request_duration_seconds", "Hub request latency.",
                  [({"route": r}, h) for r, h in latency])  # fmt: skip
    return out.text()


def _fleet(session: Session, out: Exposition) -> None:
    now = time.time()
    s = _console_data.fleet_summary(session, now)
    nodes = [
        ({"state": "online"}, s["nodes"] - s["offline"]),
        ({"state": "offline"}, s["offline"]),
        ({"state": "revoked"}, s["revoked"]),
    ]
    out.family("edgemark_nodes", "gauge", "Enrolled nodes by state (offline: no heartbeat "
               f"for {_console_data.OFFLINE_AFTER_S:.0f} s).", nodes)  # fmt: skip
    median, top = s["p99_median"], s["p99_max"]
    worst = [({"quantile": "0.5"}, None if median is None else median / 1e6),
             ({"quantile": "1"}, None if top is None else top / 1e6)]  # fmt: skip
    out.family("edgemark_fleet_decide_p99_seconds", "gauge",
               "Nodes' decide P99 (median and worst node).", worst)  # fmt: skip
    out.family("edgemark_fleet_drift_psi_max", "gauge", "Largest drift PSI of any node.",
               [({}, s["max_psi"])])  # fmt: skip
    out.family("edgemark_fleet_nodes_drifting", "gauge", "Nodes whose drift PSI is above "
               f"{_console_data.DRIFT_ALERT_PSI}.", [({}, s["drifting"])])  # fmt: skip
    live = Node.revoked_at.is_(None)
    decisions, errors = session.execute(
        select(func.sum(Node.h_decisions), func.sum(Node.h_errors)).where(live)
    ).one()
    out.family("edgemark_fleet_decisions", "gauge", "Decisions of the versions nodes run now.",
               [({}, decisions or 0)])  # fmt: skip
    out.family("edgemark_fleet_decision_errors", "gauge", "Failed decisions of those versions.",
               [({}, errors or 0)])  # fmt: skip
    states = dict(
        session.execute(select(Rollout.state, func.count()).group_by(Rollout.state)).all()
    )
    out.family("edgemark_rollouts", "gauge", "Rollouts by state.",
               [({"state": st}, states.get(st, 0)) for st in
                ("in_progress", "paused", "completed", "rolled_back", "aborted")])  # fmt: skip
    head = session.get(AuditHead, 1)
    out.family("edgemark_audit_entries", "gauge", "Entries in the audit log.",
               [({}, head.seq if head else 0)])  # fmt: skip


def _privacy(session: Session, out: Exposition, budget: float | None) -> None:
    # The same cached ledger as the console's Privacy page: a scrape never rescans it all.
    ledger = _console_data.privacy_ledger(session, budget, time.time())
    fleet = ledger["fleet"]
    out.family("edgemark_fleet_privacy_epsilon_spent", "gauge",
               "Epsilon spent fleet-wide (the privacy ledger's figure).",
               [({}, fleet.get("epsilon_spent"))])  # fmt: skip
    out.family("edgemark_fleet_privacy_epsilon_budget", "gauge", "The fleet's epsilon budget.",
               [({}, fleet.get("budget"))])  # fmt: skip
