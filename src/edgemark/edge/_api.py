"""The node's local HTTP API (stdlib ``ThreadingHTTPServer`` on 127.0.0.1) for touchpoints.

POST /v1/decide, /v1/observe, /v1/sync, /v1/reports and GET /v1/status, JSON in and out.
Client mistakes get 4xx with ``{"detail"}``; no traceback ever reaches the client.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edgemark.edge._agent import SyncAgent
from edgemark.edge._runtime import Runtime
from edgemark.edge._types import DecisionRequest
from edgemark.errors import EdgeError, EdgemarkError, EventError, NoBundleError
from edgemark.events import Event

log = logging.getLogger(__name__)
MAX_BODY = 8 * 1024 * 1024


class _HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class EdgeAPI:
    """The local API of one node; ``start()`` serves on a daemon thread, ``stop()`` ends it.

    ``agent`` is optional (without it, POST /v1/sync answers 409).
    """

    def __init__(self, runtime: Runtime, agent: SyncAgent | None = None, *, port: int = 0) -> None:
        self.runtime = runtime
        self.agent = agent
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

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

    # -- routes ---------------------------------------------------------------------------
    def route(self, method: str, path: str, body: Any) -> dict[str, Any]:
        """Answer one request (``body`` is parsed JSON, or None for GET)."""
        routes: dict[tuple[str, str], Callable[[Any], dict[str, Any]]] = {
            ("POST", "/v1/decide"): self._decide,
            ("POST", "/v1/observe"): self._observe,
            ("POST", "/v1/sync"): self._sync,
            ("POST", "/v1/reports"): self._reports,
            ("GET", "/v1/status"): lambda _: self._status(),
            ("GET", "/healthz"): lambda _: {"status": "ok"},
        }
        handler = routes.get((method, path))
        if handler is None:
            known = {p for _, p in routes}
            if path in known:
                raise _HTTPError(405, f"{method} is not allowed on {path}.")
            raise _HTTPError(404, f"No route {method} {path}.")
        return handler(body)

    def _decide(self, body: Any) -> dict[str, Any]:
        raw = _list_field(body, "requests")
        try:
            requests = [DecisionRequest.from_dict(r) for r in raw]
        except EdgeError as exc:
            raise _HTTPError(400, str(exc)) from None
        return {"decisions": [self.runtime.decide(r).to_dict() for r in requests]}

    def _observe(self, body: Any) -> dict[str, Any]:
        rejected: list[dict[str, Any]] = []
        accepted = 0
        for index, raw in enumerate(_list_field(body, "events")):
            try:
                if not isinstance(raw, dict):
                    raise EventError("an event must be a JSON object")
                self.runtime.observe(Event.from_dict(raw))
                accepted += 1
            except (EventError, EdgeError) as exc:
                rejected.append({"index": index, "reason": str(exc)})
        return {"accepted": accepted, "rejected": rejected}

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
        rows = self.runtime.reports(until_day)
        return {"queued": len(rows), "days": sorted({r["day"] for r in rows})}

    def _status(self) -> dict[str, Any]:
        status = self.runtime.stats()
        if self.agent is not None:
            status["bundle_error"] = self.agent.bundle_error
        return status


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


def _handler_for(api: EdgeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _serve(self, method: str) -> None:
            try:
                body = self._body() if method == "POST" else None
                status, payload = 200, api.route(method, self.path.split("?")[0], body)
            except _HTTPError as exc:
                status, payload = exc.status, {"detail": exc.detail}
            except NoBundleError as exc:
                status, payload = 503, {"detail": str(exc)}
            except EdgemarkError as exc:
                status, payload = 400, {"detail": str(exc)}
            except Exception:  # a bug must not leak a traceback to the client
                log.exception("edge API failed on %s %s", method, self.path)
                status, payload = 500, {"detail": "Internal error; see the node's log."}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                raise _HTTPError(400, "Content-Length must be an integer.") from None
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


def serve_api(runtime: Runtime, agent: SyncAgent | None = None, *, port: int = 0) -> EdgeAPI:
    """Start the local API on 127.0.0.1:``port`` (0 = any free port) and return it."""
    return EdgeAPI(runtime, agent, port=port).start()
