"""Console sessions: an admin token exchanged for a signed cookie, and CSRF checks.

The cookie holds which credential logged in (the bootstrap token or an admin token's id),
an expiry and a CSRF secret, signed with HMAC-SHA256 under a key derived from the
bootstrap admin token, so every replica accepts it and no session table is needed. The
credential is looked up again on every request: revoking the token ends its sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from edgemark.errors import AuthError
from edgemark.hub import _auth
from edgemark.hub._db import AdminToken
from edgemark.hub._settings import Secret

COOKIE = "edgemark_console"
COOKIE_PATH = "/console"
SESSION_S = 8 * 3600.0
_BOOTSTRAP_ID = "-"


@dataclass(frozen=True)
class ConsoleUser:
    """Who is logged in to the console: the audit actor, the scope and the CSRF secret."""

    actor: str
    scope: _auth.Scope
    csrf: str

    @property
    def can_deploy(self) -> bool:
        """Whether this user may pause, resume and abort rollouts."""
        return _auth.SCOPES.index(self.scope) >= _auth.SCOPES.index("deploy")


def _key(bootstrap: Secret) -> bytes:
    return hmac.new(bootstrap.reveal().encode(), b"edgemark-console-session-v1", "sha256").digest()


def _sign(bootstrap: Secret, payload: str) -> str:
    return hmac.new(_key(bootstrap), payload.encode(), hashlib.sha256).hexdigest()


def login(session: Session, bootstrap: Secret, token: str, now: float) -> str:
    """Check ``token`` (an admin token of any scope) and return a session cookie value.

    AuthError 401 for an unknown or revoked token, 403 for a node token.
    """
    principal = _auth.authenticate(session, bootstrap, f"Bearer {token.strip()}")
    if principal.kind != "admin":
        raise AuthError("Node tokens cannot log in to the console; use an admin token.", 403)
    credential = _BOOTSTRAP_ID if principal.actor == _auth.BOOTSTRAP else principal.actor
    payload = f"{credential}|{now + SESSION_S:.0f}|{secrets.token_urlsafe(24)}"
    encoded = base64.urlsafe_b64encode(payload.encode()).decode()
    return f"{encoded}.{_sign(bootstrap, encoded)}"


def user_of(session: Session, bootstrap: Secret, cookie: str | None, now: float) -> ConsoleUser:
    """The user behind a session cookie (AuthError 401 if absent, forged, expired or revoked)."""
    if not cookie or "." not in cookie:
        raise AuthError("You are not logged in.", 401)
    encoded, _, signature = cookie.rpartition(".")
    if not hmac.compare_digest(_sign(bootstrap, encoded), signature):
        raise AuthError("Your session is not valid; log in again.", 401)
    try:
        credential, expires, csrf = base64.urlsafe_b64decode(encoded).decode().split("|")
        expired = float(expires) < now
    except (ValueError, UnicodeDecodeError):
        raise AuthError("Your session is not valid; log in again.", 401) from None
    if expired:
        raise AuthError("Your session has expired; log in again.", 401)
    if credential == _BOOTSTRAP_ID:
        return ConsoleUser(_auth.BOOTSTRAP, "admin", csrf)
    row = session.get(AdminToken, credential)
    if row is None or row.revoked_at is not None:
        raise AuthError("The token of this session was revoked; log in with another.", 401)
    return ConsoleUser(row.id, _auth._scope(row.scope), csrf)


def check_csrf(user: ConsoleUser, sent: str | None) -> None:
    """AuthError 403 unless the form carried this session's CSRF token."""
    if not sent or not hmac.compare_digest(user.csrf.encode(), sent.encode()):
        raise AuthError(
            "This form is stale or did not come from the console (CSRF check failed); "
            "reload the page and try again.",
            403,
        )


def check_origin(origin: str | None, host: str | None) -> None:
    """AuthError 403 when a browser says the form came from another site."""
    if origin is None:  # not a browser, or a same-origin GET: SameSite=Strict still holds
        return
    if host is None or origin not in {f"http://{host}", f"https://{host}"}:
        raise AuthError("This form was sent from another site; the console refuses it.", 403)
