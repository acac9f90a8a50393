"""The hub's per-process state and the FastAPI dependencies every route uses (auth, DB).

Everything a request needs beyond this process's write lock, rate-limit buckets and
heartbeat writer is in the database, which is why replicas can share one PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from edgemark.errors import AuthError
from edgemark.hub import _auth
from edgemark.hub._heartbeats import HeartbeatWriter
from edgemark.hub._settings import HubSettings


@dataclass
class HubState:
    """What one hub process holds: settings, sessions, the write lock and the writer."""

    settings: HubSettings
    sessions: sessionmaker[Session]
    writer: HeartbeatWriter
    # One writer at a time in this process: SQLite serialises writes anyway, and a read
    # that upgrades to a write must not race another writer; PostgreSQL replicas rely on
    # row locks (SELECT ... FOR UPDATE) and atomic updates instead.
    write_lock: threading.RLock = field(default_factory=threading.RLock)

    @contextmanager
    def writing(self, session: Session) -> Iterator[None]:
        """Hold the write lock; commit on success, roll back on any error."""
        with self.write_lock:
            try:
                yield
                session.commit()
            except BaseException:
                session.rollback()
                raise


async def _hub(request: Request) -> HubState:
    # async: FastAPI would run a sync dependency in its thread pool, a costly hop for a lookup
    hub: HubState = request.app.state.hub
    return hub


def _db(hub: Annotated[HubState, Depends(_hub)]) -> Iterator[Session]:
    with hub.sessions() as session:
        yield session


HubDep = Annotated[HubState, Depends(_hub)]
DB = Annotated[Session, Depends(_db)]
AuthHeader = Annotated[str | None, Header(include_in_schema=False)]


def _caller(hub: HubDep, session: DB, authorization: AuthHeader = None) -> _auth.Principal:
    return _auth.authenticate(session, hub.settings.admin_token, authorization)


Caller = Annotated[_auth.Principal, Depends(_caller)]


def _read(principal: Caller) -> _auth.Principal:
    _auth.require_scope(principal, "read")
    return principal


def _deploy(principal: Caller) -> _auth.Principal:
    _auth.require_scope(principal, "deploy")
    return principal


def _admin(principal: Caller) -> _auth.Principal:
    _auth.require_scope(principal, "admin")
    return principal


def _node(principal: Caller) -> str:
    if principal.kind != "node" or principal.node_id is None:
        raise AuthError("Forbidden: this endpoint needs a node token, not an admin token.", 403)
    return principal.node_id


Reader = Annotated[_auth.Principal, Depends(_read)]
Deployer = Annotated[_auth.Principal, Depends(_deploy)]
Admin = Annotated[_auth.Principal, Depends(_admin)]
ThisNode = Annotated[str, Depends(_node)]
