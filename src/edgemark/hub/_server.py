"""Run the hub with uvicorn: bind (port 0 = any free port), publish the port, serve.

On SIGTERM/SIGINT uvicorn shuts down gracefully (finishes requests in flight, runs the
app's shutdown) and ``serve`` returns normally.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from edgemark.errors import HubError
from edgemark.hub._app import create_app
from edgemark.hub._settings import HubSettings


def serve(
    settings: HubSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    port_file: Path | None = None,
    *,
    log_level: str = "info",
) -> None:
    """Serve the hub until SIGTERM/SIGINT; with ``port_file`` write the bound port there.

    Binding happens before the port file is written, so a parent process that reads the
    file can connect at once (connections queue until uvicorn accepts them).
    """
    import uvicorn

    sock = bind_socket(host, port)
    if port_file is not None:
        write_port_file(port_file, sock.getsockname()[1])
    config = uvicorn.Config(create_app(settings), log_level=log_level, lifespan="on")
    server = uvicorn.Server(config)
    try:
        with _stop_on_signals(server):
            server.run(sockets=[sock])
    finally:
        sock.close()


@contextmanager
def _stop_on_signals(server: Any) -> Iterator[None]:
    # uvicorn handles SIGTERM/SIGINT during run() and shuts down gracefully, then re-raises
    # the signal to the handler that was there before. Ours just asks for a stop, so a
    # graceful stop returns normally (exit code 0) instead of dying by the signal; it also
    # covers a signal that arrives before uvicorn installed its handlers.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_sig: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: the OS picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listening socket says TCP, and without it every response waits ~40 ms (delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def write_port_file(path: Path, port: int) -> None:
    """Write ``port`` atomically, so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{port}\n")
    os.replace(tmp, path)


class ServerThread:
    """A hub served by uvicorn in a background thread (for tests, demos and notebooks).

    Use as a context manager; ``url`` is ``http://host:port`` once started. ``stop()``
    asks uvicorn to shut down gracefully and waits for the thread.
    """

    def __init__(self, settings: HubSettings, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self._sock = bind_socket(host, port)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
            name=f"edgemark-hub-{self.port}",
        )  # fmt: skip

    def start(self, timeout: float = 10.0) -> ServerThread:
        """Start serving; return once uvicorn accepts connections (HubError on timeout)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise HubError(f"hub at {self.url} did not start within {timeout} s", 0)
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down gracefully and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
