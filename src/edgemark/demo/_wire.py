"""A capturing reverse proxy between the edge nodes and the hub, on 127.0.0.1, and the
allow-list of what a node may send.

With ``DemoSettings.capture_wire`` the nodes talk to the hub through it, and every request
a node sends (method, path, body) is appended to a JSON-lines file; ``wire_violations``
checks such a log: only heartbeats, DP-noised report rows and federated answers (one
vector of floats of an allowed length: a model update or an offer-rate vector) pass.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Collection, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}

ALLOWED_REQUESTS = frozenset({
    ("POST", "/v1/heartbeats"), ("GET", "/v1/assignment"), ("GET", "/v1/bundles/*"),
    ("POST", "/v1/reports"), ("GET", "/v1/federated/task"), ("POST", "/v1/federated/updates"),
})  # fmt: skip
HEARTBEAT_KEYS = frozenset({
    "active_version", "bundle_error", "decisions_by_version", "health", "latency_p50_us",
    "latency_p99_us", "reason", "version", "decide_p99_us", "decisions", "errors",
    "holdout_conversions", "holdout_exposures", "treatment_conversions", "treatment_exposures",
})  # fmt: skip
REPORT_KEYS = frozenset({
    "reports", "arm", "conversions", "count_noise_scale", "day", "epsilon", "experiment",
    "exposures", "idempotency_key", "max_contributions", "revenue", "revenue_noise_scale",
    "revenue_sq", "revenue_sq_noise_scale",
})  # fmt: skip


def wire_violations(
    entries: Iterable[Mapping[str, Any]], update_lengths: Collection[int]
) -> list[str]:
    """What in a captured log is not allowed, one line per request (empty: all allowed).

    ``update_lengths`` are the vector lengths a federated answer may have: the model's
    parameters and the offer-rate tasks' arms (K floats).
    """
    problems = []
    for index, entry in enumerate(entries):
        why = _violation(entry, update_lengths)
        if why is not None:
            problems.append(f"request {index} ({entry.get('method')} {entry.get('path')}): {why}")
    return problems


def _violation(entry: Mapping[str, Any], update_lengths: Collection[int]) -> str | None:
    method = entry.get("method")
    path = re.sub(r"^/v1/bundles/.+$", "/v1/bundles/*", str(entry.get("path")).split("?")[0])
    if (method, path) not in ALLOWED_REQUESTS:
        return "not an allowed request"
    if "raw" in entry:
        return "the body is not JSON"
    body = entry.get("json")
    if method == "GET":
        return None if body is None else "a GET with a body"
    if path == "/v1/heartbeats":
        extra = _keys(body) - HEARTBEAT_KEYS
        return f"heartbeat keys {sorted(extra)}" if extra else None
    if path == "/v1/reports":
        extra = _keys(body) - REPORT_KEYS
        if extra:
            return f"report keys {sorted(extra)}"
        rows = body.get("reports") if isinstance(body, dict) else None
        return None if isinstance(rows, list) and all(map(_noised, rows)) else "unnoised rows"
    return _update_violation(body, update_lengths)


def _update_violation(body: Any, update_lengths: Collection[int]) -> str | None:
    """A federated answer: one vector of floats, clipped and noised, nothing else."""
    if not isinstance(body, dict) or set(body) != {"task_id", "update"}:
        return "an update must be exactly {task_id, update}"
    update = body["update"]
    if not isinstance(update, list) or not all(isinstance(v, float) for v in update):
        return "an update must be a list of floats"
    return None if len(update) in update_lengths else f"an update of {len(update)} values"


def _noised(row: Any) -> bool:
    """A report row that says which DP noise it carries (epsilon and noise scale > 0)."""
    try:
        return bool(row["epsilon"] > 0 and row["count_noise_scale"] > 0)
    except (KeyError, TypeError):
        return False


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        out = set(value)
        for key, item in value.items():
            if key == "decisions_by_version":  # a count per bundle version
                if not all(isinstance(n, int) for n in item.values()):
                    out.add("decisions_by_version:not-a-count")
                continue
            out |= _keys(item)
        return out
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


class WireTap:
    """Forward ``/...`` to ``upstream`` and record each request body in ``log_path``."""

    def __init__(self, upstream: str, log_path: Path) -> None:
        self.upstream = upstream.rstrip("/")
        self.log_path = log_path
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=self.upstream, timeout=60.0)
        tap = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tap.forward(self)

            def do_POST(self) -> None:
                tap.forward(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where the nodes should send their requests."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> WireTap:
        """Start serving in a background thread."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the upstream client."""
        self._server.shutdown()
        self._server.server_close()
        self._http.close()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        """Record the request, send it upstream, relay the answer."""
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        self._record(handler.command, handler.path, body)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        try:
            answer = self._http.request(handler.command, handler.path, content=body,
                                        headers=headers)  # fmt: skip
        except httpx.HTTPError as exc:
            handler.send_error(502, f"hub unreachable: {exc}")
            return
        handler.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in _HOP and key.lower() != "content-encoding":
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def _record(self, method: str, path: str, body: bytes) -> None:
        try:
            payload: Any = json.loads(body) if body else None
            entry = {"method": method, "path": path, "json": payload}
        except ValueError:
            entry = {"method": method, "path": path, "raw": base64.b64encode(body).decode()}
        with self._lock, self.log_path.open("a") as out:
            out.write(json.dumps(entry) + "\n")
