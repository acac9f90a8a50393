"""A capturing reverse proxy between the edge nodes and the hub, on 127.0.0.1.

With ``DemoSettings.capture_wire`` the nodes talk to the hub through it, and every request
a node sends (method, path, body) is appended to a JSON-lines file, so a test can check
what crossed the wire.
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


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
