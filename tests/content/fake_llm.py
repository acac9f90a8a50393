"""A fake OpenAI-compatible chat endpoint on 127.0.0.1 for backend tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeLLM:
    """Answers with ``reply`` (or fails as ``mode`` says); records every request body."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.reply = "1. First line\n2. Second line"
        self.tokens = 40
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.url = ""


@contextmanager
def serve_fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append(
                {"path": self.path, "auth": self.headers.get("Authorization"), **body}
            )
            time.sleep(fake.delay_s)
            if fake.mode == "error":
                self.send_response(500)
                self.end_headers()
                return
            payload: Any = {
                "choices": [{"message": {"content": fake.reply}}],
                "usage": {"total_tokens": fake.tokens},
            }
            if fake.mode == "garbage":
                payload = {"nothing": True}
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
