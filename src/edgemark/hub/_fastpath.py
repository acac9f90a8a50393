"""POST /v1/heartbeats as a pure ASGI handler: the one request every node sends every sync.

Same contract as the documented FastAPI route (which stays for the OpenAPI spec): the body
is validated by ``HeartbeatIn`` (422 naming the field), node tokens only (401/403), group
committed by the writer, answered with the node's assignment. Skipping FastAPI's routing,
dependency solving and response encoding roughly halves the hub's CPU per heartbeat.
Body-size and rate limits still apply: this sits inside those middlewares.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgemark.errors import AuthError, HubError
from edgemark.hub import _auth
from edgemark.hub._heartbeats import HeartbeatWriter, Job
from edgemark.hub._schemas import HeartbeatIn
from edgemark.hub._settings import Secret

log = logging.getLogger(__name__)
PATH = "/v1/heartbeats"


class HeartbeatFastPath:
    """Serve POST /v1/heartbeats directly; pass every other request on to ``app``."""

    def __init__(
        self, app: ASGIApp, writer: Callable[[], HeartbeatWriter], bootstrap: Secret
    ) -> None:
        self.app, self.writer, self.bootstrap = app, writer, bootstrap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            return
        try:
            answer = await self._handle(scope, body)
        except HubError as exc:
            await _reply(send, exc.status if 400 <= exc.status < 600 else 400, str(exc))
            return
        except ValidationError as exc:
            await _reply(send, 422, validation_message(exc.errors()))
            return
        await _send_json(send, 200, answer)

    async def _handle(self, scope: Scope, body: bytes) -> dict[str, Any]:
        token = _auth.bearer_token(_header(scope, b"authorization"))
        if token.startswith(_auth.ADMIN_PREFIX) or self.bootstrap.matches(token):
            raise AuthError("Forbidden: this endpoint needs a node token, not an admin token.", 403)
        heartbeat = HeartbeatIn.model_validate_json(body)
        job = Job(_auth.token_sha256(token), heartbeat)
        result = await asyncio.wrap_future(self.writer().submit(job))
        if isinstance(result, AuthError):
            raise result
        return {"ok": True, "assignment": {"version": result.version, "sha256": result.sha256,
                                           "rollout_id": result.rollout_id}}  # fmt: skip


def validation_message(errors: Sequence[Any]) -> str:
    """One readable line from pydantic/FastAPI error dicts (at most five named)."""
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "Invalid request: " + "; ".join(parts) + more


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send: Send, status: int, detail: str) -> None:
    headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
    await _send_json(send, status, {"detail": detail}, headers)


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]  # fmt: skip
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
