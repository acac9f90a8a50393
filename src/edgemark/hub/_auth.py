"""Who is calling: bearer parsing, the admin token, node tokens and one-time enrolment.

Tokens are random (``secrets.token_urlsafe(32)``); the hub stores only their sha256 hex
and looks them up by hash, so a copy of the database does not hold usable credentials.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.errors import AuthError
from edgemark.hub._db import EnrolmentToken, Node
from edgemark.hub._settings import Secret

Role = Literal["admin", "node"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the admin, or one node (``node_id`` set)."""

    role: Role
    node_id: str | None = None


def token_sha256(token: str) -> str:
    """The sha256 hex under which a token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


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


def authenticate(session: Session, admin_token: Secret, authorization: str | None) -> Principal:
    """Resolve the caller of a request (AuthError 401 if the token is missing or unknown)."""
    token = bearer_token(authorization)
    if admin_token.matches(token):
        return Principal("admin")
    node_id = session.scalar(select(Node.id).where(Node.token_sha256 == token_sha256(token)))
    if node_id is None:
        raise AuthError(
            "Invalid token: it is neither the admin token nor the token of an enrolled node. "
            "Enrol the node again with a fresh enrolment token.",
            401,
        )
    return Principal("node", node_id)


def require_role(principal: Principal, *roles: Role) -> None:
    """AuthError 403 unless the caller has one of ``roles``."""
    if principal.role not in roles:
        wanted = " or ".join(f"the {r} token" for r in roles)
        raise AuthError(
            f"Forbidden: this endpoint needs {wanted}, but a {principal.role} token was sent.",
            403,
        )


def create_enrolment_token(session: Session, node_name: str, now: float) -> str:
    """Issue a one-time enrolment token for ``node_name`` (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        EnrolmentToken(token_sha256=token_sha256(token), node_name=node_name, created_at=now)
    )
    return token


def enrol(session: Session, enrolment_token: str, node_name: str, now: float) -> tuple[str, str]:
    """Spend an enrolment token; return ``(node_id, node_token)``.

    A node name that is already enrolled keeps its node id and gets a new token (the old
    token stops working): the admin issued a token for that name, so this is how a node
    that lost its state comes back.
    """
    row = session.get(EnrolmentToken, token_sha256(enrolment_token))
    if row is None:
        raise AuthError("Unknown enrolment token. Ask the admin for a new one.", 401)
    if row.used_at is not None:
        raise AuthError(
            "This enrolment token was already used; it is one-time. Ask the admin for a new one.",
            401,
        )
    if row.node_name != node_name:
        raise AuthError(
            f"This enrolment token was issued for node {row.node_name!r}, not {node_name!r}.",
            401,
        )
    row.used_at = now
    node_token = secrets.token_urlsafe(32)
    node = session.scalar(select(Node).where(Node.name == node_name))
    if node is None:
        node = Node(
            id="node-" + secrets.token_hex(8),
            name=node_name,
            enrolled_at=now,
            token_sha256=token_sha256(node_token),
            decisions_by_version={},
            heartbeats=0,
        )
        session.add(node)
    else:
        node.token_sha256 = token_sha256(node_token)
        node.enrolled_at = now
    session.flush()
    return node.id, node_token
