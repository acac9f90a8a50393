"""The node's local HTTP API (stdlib ``ThreadingHTTPServer`` on 127.0.0.1) for touchpoints.

POST /v1/decide, /v1/events (one event or a batch), /v1/observe (batch), /v1/erase,
/v1/reports, /v1/sync, /v1/compose (copy from the bundle's content pack); GET /healthz,
/metrics (Prometheus text), /v1/status. JSON in and out. What the API acknowledges is
written first: it commits decisions and events to SQLite before it answers. Client
mistakes get 4xx with ``{"detail"}``; a failure of the node itself gets 503 with a detail
(retry later), never a traceback and never a 500.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgemark._extras import require
from edgemark.edge._metrics import CONTENT_TYPE, render_metrics
from edgemark.edge._runtime import Runtime
from edgemark.edge._types import DecisionRequest
from edgemark.errors import EdgeError, EdgemarkError, MissingExtraError, NoBundleError
from edgemark.observe import accept_request_id, request_id, server_span, tracing_enabled

if TYPE_CHECKING:
    from edgemark.edge._agent import SyncAgent

log = logging.getLogger(__name__)
MAX_BODY = 8 * 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 413: "Payload Too Large", 503: "Service Unavailable"}  # fmt: skip


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Text(str):
    """A route result sent as text (the metrics exposition), not JSON."""


class EdgeAPI:
    """The local API of one node; ``start()`` serves on a daemon thread, ``stop()`` ends it.

    ``agent`` is optional (without it, POST /v1/sync answers 409). ``durable_decisions``
    (default) commits decisions before answering, so frequency caps and budgets survive a
    crash; events are always committed before the answer.
    """

    def __init__(
        self,
        runtime: Runtime,
        agent: SyncAgent | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        durable_decisions: bool = True,
    ) -> None:
        self.runtime = runtime
        self.agent = agent
        self.durable_decisions = durable_decisions
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._counts: dict[tuple[str, int], int] = {}
        self._counts_lock = threading.Lock()
        self._routes: dict[tuple[str, str], Callable[[Any], Any]] = {
            ("POST", "/v1/decide"): self._decide,
            ("POST", "/v1/events"): self._events,
            ("POST", "/v1/observe"): self._observe,
            ("POST", "/v1/erase"): self._erase,
            ("POST", "/v1/sync"): self._sync,
            ("POST", "/v1/reports"): self._reports,
            ("POST", "/v1/compose"): self._compose,
            ("GET", "/v1/status"): lambda _: self._status(),
            ("GET", "/healthz"): lambda _: self._health(),
            ("GET", "/metrics"): lambda _: _Text(
                render_metrics(self.runtime.stats(), self.counts())
            ),
        }

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EdgeAPI:
        """Serve on a background thread and write the port to ``state_dir/api.port``."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="edge-api", daemon=True
        )
        self._thread.start()
        _write_atomic(self.runtime.state_dir / "api.port", f"{self.port}\n")
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def counts(self) -> dict[tuple[str, int], int]:
        """Requests answered so far by (route, status)."""
        with self._counts_lock:
            return dict(self._counts)

    def route_label(self, path: str) -> str:
        """``path`` if it is a route, else "other": metric labels and span names stay bounded."""
        return path if any(path == p for _, p in self._routes) else "other"

    def count(self, path: str, status: int) -> None:
        """Count one answered request (unknown paths are pooled, labels stay bounded)."""
        route = self.route_label(path)
        with self._counts_lock:
            self._counts[(route, status)] = self._counts.get((route, status), 0) + 1

    # -- routes ---------------------------------------------------------------------------
    def route(self, method: str, path: str, body: Any) -> Any:
        """Answer one request (``body`` is parsed JSON, or None for GET)."""
        handler = self._routes.get((method, path))
        if handler is None:
            if path in {p for _, p in self._routes}:
                raise _HTTPError(405, f"{method} is not allowed on {path}.")
            raise _HTTPError(404, f"No route {method} {path}.")
        return handler(body)

    def _decide(self, body: Any) -> dict[str, Any]:
        single = isinstance(body, dict) and "requests" not in body and "user" in body
        raw = [body] if single else _list_field(body, "requests")
        try:
            requests = [DecisionRequest.from_dict(r) for r in raw]
        except EdgeError as exc:
            raise _HTTPError(400, str(exc)) from None
        decisions = [self.runtime.decide(r).to_dict() for r in requests]
        if self.durable_decisions:
            self.runtime.commit()
        return {"decision": decisions[0]} if single else {"decisions": decisions}

    def _compose(self, body: Any) -> dict[str, Any]:
        try:  # the content plane is an extra; a node without it has no pack to compose from
            content = require("edgemark.content", "content")
        except MissingExtraError as exc:
            raise _HTTPError(409, str(exc)) from None
        request = content.compose_request_from_dict(body)  # ConfigError -> 400
        try:
            copy = self.runtime.compose(request)
        except NoBundleError:
            raise
        except EdgeError as exc:  # the serving bundle carries no content pack
            raise _HTTPError(409, str(exc)) from None
        return {"copy": copy.to_dict()}

    def _events(self, body: Any) -> dict[str, Any]:
        if isinstance(body, dict) and "events" not in body and "event_id" in body:
            return self.runtime.observe_many([body]).to_dict()
        return self._observe(body)

    def _observe(self, body: Any) -> dict[str, Any]:
        items = _list_field(body, "events")
        return self.runtime.observe_many(items).to_dict()

    def _erase(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("user"), str) or not body["user"]:
            raise _HTTPError(400, 'Body must be a JSON object {"user": "<raw id>"}.')
        return {"erased": self.runtime.erase_user(body["user"])}

    def _sync(self, _body: Any) -> dict[str, Any]:
        if self.agent is None:
            raise _HTTPError(409, "This node runs without a hub; there is nothing to sync.")
        return self.agent.sync_once()

    def _reports(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _HTTPError(400, 'Body must be a JSON object {"until_day": <int>}.')
        until_day = body.get("until_day")
        if isinstance(until_day, bool) or not isinstance(until_day, int):
            raise _HTTPError(400, "'until_day' must be an integer day index (ts // 86400).")
        release = self.runtime.close_days(until_day)
        return {
            "queued": len(release.rows),
            "days": sorted({r["day"] for r in release.rows}),
            "refused": release.refused,
        }

    def _status(self) -> dict[str, Any]:
        status = self.runtime.stats()
        if self.agent is not None:
            status["bundle_error"] = self.agent.bundle_error
        return status

    def _health(self) -> dict[str, Any]:
        version = self.runtime.active_version
        return {"status": "ok", "ready": version is not None, "active_version": version}


def _list_field(body: Any, name: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get(name), list):
        raise _HTTPError(400, f'Body must be a JSON object {{"{name}": [...]}}.')
    items: list[Any] = body[name]
    return items


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".api.port.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _answer(api: EdgeAPI, method: str, path: str, body: Any) -> tuple[int, Any]:
    try:
        return 200, api.route(method, path, body)
    except _HTTPError as exc:
        return exc.status, {"detail": exc.detail}
    except NoBundleError as exc:
        return 503, {"detail": str(exc)}
    except EdgeError as exc:
        return 503, {"detail": f"{exc} Retry later."}
    except EdgemarkError as exc:
        return 400, {"detail": str(exc)}
    except sqlite3.Error as exc:  # storage failed: nothing was acknowledged, retry
        log.exception("edge API could not write state on %s %s", method, path)
        return 503, {"detail": f"The node could not write its state ({exc}); retry later."}
    except Exception:  # a bug must not leak a traceback to the client
        log.exception("edge API failed on %s %s", method, path)
        return 503, {"detail": "The node failed on this request (see its log); retry later."}


def _handler_for(api: EdgeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # One write per response, and no Nagle delay waiting for the client's ACK.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _serve(self, method: str) -> None:
            path = self.path.split("?")[0]
            given = self.headers.get("X-Request-ID")
            rid = accept_request_id(given)
            token = request_id.set(rid)
            try:
                if tracing_enabled():
                    route = api.route_label(path)
                    attrs = {"http.request.method": method, "http.route": route}
                    with server_span(f"{method} {route}", dict(self.headers), attrs) as span:
                        status, payload = self._respond(method, path)
                        span.set_attribute("http.response.status_code", status)
                else:
                    status, payload = self._respond(method, path)
                # Echoed to a caller that sent one (touchpoints that correlate do): an
                # extra header on every answer cost the busiest benchmark ~4% throughput.
                self._write(status, payload, rid if given is not None else None)
            finally:
                request_id.reset(token)
            api.count(path, status)

        def _respond(self, method: str, path: str) -> tuple[int, Any]:
            try:
                body = self._body() if method == "POST" else None
                return _answer(api, method, path, body)
            except _HTTPError as exc:
                return exc.status, {"detail": exc.detail}

        def _write(self, status: int, payload: Any, rid: str | None) -> None:
            if isinstance(payload, _Text):
                data, kind = payload.encode(), CONTENT_TYPE
            else:
                data, kind = json.dumps(payload).encode(), "application/json"
            echo = "" if rid is None else f"X-Request-ID: {rid}\r\n"
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
                f"Content-Type: {kind}\r\nContent-Length: {len(data)}\r\n{echo}"
                f"{'Connection: close' if self.close_connection else 'Connection: keep-alive'}"
                "\r\n\r\n"
            )
            self.wfile.write(head.encode() + data)

        def _body(self) -> Any:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                raise _HTTPError(400, "Content-Length must be an integer.") from None
            if length < 0:
                raise _HTTPError(400, "Content-Length must not be negative.")
            if length > MAX_BODY:
                self.close_connection = True
                raise _HTTPError(413, f"Body of {length} bytes exceeds {MAX_BODY} bytes.")
            raw = self.rfile.read(length) if length > 0 else b""
            if not raw:
                return {}
            try:
                return json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise _HTTPError(400, f"Body is not valid JSON: {exc}.") from None

    return Handler


def serve_api(
    runtime: Runtime, agent: SyncAgent | None = None, *, port: int = 0, host: str = "127.0.0.1"
) -> EdgeAPI:
    """Start the local API on ``host``:``port`` (0 = any free port) and return it."""
    return EdgeAPI(runtime, agent, port=port, host=host).start()
