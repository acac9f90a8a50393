"""Rate limits per client as a pure ASGI middleware: a token bucket per credential or address.

A client is its bearer credential (by hash, so no secret is kept) or, without one, its
address. Over the limit the hub answers 429 with ``Retry-After`` before any work is done.
Buckets live in this process: each replica limits on its own (see docs/operations.md).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

MAX_CLIENTS = 100_000
_EXEMPT = frozenset({"/healthz"})


class TokenBuckets:
    """Token buckets keyed by client: ``rate`` per second refill, ``burst`` capacity.

    >>> buckets = TokenBuckets(rate=1.0, burst=2, clock=lambda: 0.0)
    >>> [buckets.take("a") for _ in range(3)]
    [0.0, 0.0, 1.0]
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_clients = rate, float(burst), max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else the seconds until one is free."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_clients:  # forget the least recently seen client
            self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """Answer 429 to a client that exceeds its bucket."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _EXEMPT:
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_key(scope))
        if wait > 0:
            await _too_many(send, wait)
            return
        await self.app(scope, receive, send)


def client_key(scope: Scope) -> str:
    """The credential's hash if the request carries one, else the client address."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return "cred:" + hashlib.sha256(value).hexdigest()[:32]
    client = scope.get("client")
    return "addr:" + (str(client[0]) if client else "unknown")


async def _too_many(send: Send, wait: float) -> None:
    retry = max(1, math.ceil(wait))
    body = json.dumps(
        {"detail": f"Too many requests from this client; retry in {retry} s."}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
