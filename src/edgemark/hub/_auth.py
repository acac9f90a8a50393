"""Who is calling and what they may do: scoped admin tokens, node credentials, enrolment.

Tokens are random (``secrets.token_urlsafe(32)``) with a prefix naming their kind; the
hub stores only their sha256 hex, looks them up by hash and compares in constant time, so
a copy of the database holds no usable credential. Scopes nest: read < deploy < admin.
The bootstrap admin token (EDGEMARK_ADMIN_TOKEN) is never stored; it has the admin scope.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.errors import AuthError, HubError
from edgemark.hub._db import AdminToken, EnrolmentToken, Node
from edgemark.hub._settings import Secret

Scope = Literal["read", "deploy", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "deploy", "admin")
BOOTSTRAP = "bootstrap"
ADMIN_PREFIX, NODE_PREFIX, ENROL_PREFIX = "ema_", "emn_", "eme_"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an admin token (``scope`` set) or one node (``node_id`` set).

    ``actor`` names the caller in the audit log without revealing any secret.
    """

    kind: Literal["admin", "node"]
    actor: str
    scope: Scope | None = None
    node_id: str | None = None


def token_sha256(token: str) -> str:
    """The sha256 hex under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """A fresh random token with a prefix naming its kind (``ema_``, ``emn_``, ``eme_``)."""
    return prefix + secrets.token_urlsafe(32)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (AuthError 401 if absent)."""
    if not authorization:
        raise AuthError(
            "Missing credentials: send the header 'Authorization: Bearer <token>'.", 401
        )
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError(
            "Malformed Authorization header: expected 'Authorization: Bearer <token>'.", 401
        )
    return token


def authenticate(session: Session, bootstrap: Secret, authorization: str | None) -> Principal:
    """Resolve the caller (AuthError 401 if the token is missing, unknown or revoked)."""
    token = bearer_token(authorization)
    if bootstrap.matches(token):
        return Principal("admin", BOOTSTRAP, scope="admin")
    digest = token_sha256(token)
    if token.startswith(ADMIN_PREFIX):
        admin = session.scalar(select(AdminToken).where(AdminToken.token_sha256 == digest))
        if admin is not None and hmac.compare_digest(admin.token_sha256, digest):
            if admin.revoked_at is not None:
                raise AuthError(f"Admin token {admin.id} was revoked; ask for a new one.", 401)
            return Principal("admin", admin.id, scope=_scope(admin.scope))
    else:
        node = resolve_node(session, digest)
        if node is not None:
            return Principal("node", node, node_id=node)
    raise AuthError(
        "Invalid token: it is neither an admin token nor the token of an enrolled node. "
        "Check the token, or enrol the node again with a fresh enrolment token.",
        401,
    )


def resolve_node(session: Session, digest: str) -> str | None:
    """The id of the node whose token hashes to ``digest`` (AuthError 401 if revoked)."""
    row = session.execute(
        select(Node.id, Node.token_sha256, Node.revoked_at).where(Node.token_sha256 == digest)
    ).first()
    if row is None or not hmac.compare_digest(row.token_sha256, digest):
        return None
    if row.revoked_at is not None:
        raise AuthError(
            f"Node {row.id} was revoked; it can come back only with a new enrolment token.", 401
        )
    return str(row.id)


def _scope(value: str) -> Scope:
    for scope in SCOPES:
        if scope == value:
            return scope
    raise HubError(f"Stored admin token has an unknown scope {value!r}.", 503)


def require_scope(principal: Principal, scope: Scope) -> None:
    """AuthError 403 unless the caller is an admin token with at least ``scope``."""
    if principal.kind != "admin" or principal.scope is None:
        raise AuthError(
            f"Forbidden: this endpoint needs an admin token with the {scope} scope, "
            "but a node token was sent.",
            403,
        )
    if SCOPES.index(principal.scope) < SCOPES.index(scope):
        raise AuthError(
            f"Forbidden: this endpoint needs the {scope} scope; token {principal.actor} "
            f"has only {principal.scope}.",
            403,
        )


def create_admin_token(
    session: Session, name: str, scope: Scope, created_by: str, now: float
) -> tuple[AdminToken, str]:
    """Issue a scoped admin token; return the row and the token (shown once, never stored)."""
    token = new_token(ADMIN_PREFIX)
    row = AdminToken(
        id="tok-" + secrets.token_hex(6), name=name, scope=scope,
        token_sha256=token_sha256(token), created_at=now, created_by=created_by,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return row, token


def revoke_admin_token(session: Session, token_id: str, now: float) -> AdminToken:
    """Revoke an admin token at once (HubError 404 if unknown)."""
    row = session.get(AdminToken, token_id)
    if row is None:
        raise HubError(f"No admin token with id {token_id!r}.", 404)
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def create_enrolment_token(
    session: Session, node_name: str, created_by: str, now: float, ttl_s: float
) -> str:
    """Issue a one-time enrolment token for ``node_name`` (only its hash is stored)."""
    token = new_token(ENROL_PREFIX)
    session.add(
        EnrolmentToken(
            token_sha256=token_sha256(token), node_name=node_name, created_at=now,
            expires_at=now + ttl_s, created_by=created_by,
        )
    )  # fmt: skip
    return token


def enrol(session: Session, enrolment_token: str, node_name: str, now: float) -> tuple[str, str]:
    """Spend an enrolment token; return ``(node_id, node_token)``.

    A node name that is already enrolled keeps its node id and gets a new token (the old
    token stops working, a revocation is lifted): the admin issued a token for that name,
    so this is how a node that lost its state, or was revoked by mistake, comes back.
    """
    row = session.get(EnrolmentToken, token_sha256(enrolment_token))
    if row is None:
        raise AuthError("Unknown enrolment token. Ask the admin for a new one.", 401)
    if row.used_at is not None:
        raise AuthError(
            "This enrolment token was already used; it is one-time. Ask the admin for a new one.",
            401,
        )
    if now > row.expires_at:
        raise AuthError("This enrolment token has expired. Ask the admin for a new one.", 401)
    if not hmac.compare_digest(row.node_name.encode(), node_name.encode()):
        raise AuthError(
            f"This enrolment token was issued for node {row.node_name!r}, not {node_name!r}.",
            401,
        )
    row.used_at = now
    node_token = new_token(NODE_PREFIX)
    node = session.scalar(select(Node).where(Node.name == node_name))
    if node is None:
        node = Node(
            id="node-" + secrets.token_hex(8), name=node_name, enrolled_at=now,
            token_sha256=token_sha256(node_token), decisions_by_version={}, heartbeats=0,
        )  # fmt: skip
        session.add(node)
    else:
        node.token_sha256 = token_sha256(node_token)
        node.enrolled_at = now
        node.revoked_at = None
    session.flush()
    return node.id, node_token


def find_node(session: Session, name_or_id: str) -> Node:
    """A node by id or name (HubError 404 if neither matches)."""
    node = session.get(Node, name_or_id) or session.scalar(
        select(Node).where(Node.name == name_or_id)
    )
    if node is None:
        raise HubError(f"No node with id or name {name_or_id!r}; see `edgemark nodes list`.", 404)
    return node


def revoke_node(session: Session, name_or_id: str, now: float) -> Node:
    """Revoke a node's credential: its next request is refused (401)."""
    node = find_node(session, name_or_id)
    if node.revoked_at is None:
        node.revoked_at = now
    session.flush()
    return node
