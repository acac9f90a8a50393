"""The hub's HTTP API (FastAPI): enrolment, heartbeats, bundles, rollouts and reports.

Endpoints are thin over the plain-function modules; every error is a 4xx JSON
``{"detail": "..."}`` (a malformed body never gives a 500).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from edgemark.errors import HubError
from edgemark.hub import _auth, _bundles, _reports, _rollouts
from edgemark.hub._db import Node, Rollout, create_engine_for, create_schema, session_factory
from edgemark.hub._limits import BodyLimit
from edgemark.hub._schemas import EnrolIn, EnrolmentTokenIn, HeartbeatIn, ReportsIn, RolloutIn
from edgemark.hub._settings import HubSettings

BUNDLES_PATH = "/v1/bundles"


@dataclass
class _Hub:
    settings: HubSettings
    sessions: sessionmaker[Session]
    # One writer at a time: rollout state is read-modify-write (SQLite serialises writes
    # anyway; a PostgreSQL deployment with replicas would use row locks instead).
    write_lock: threading.Lock = field(default_factory=threading.Lock)

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


def _hub(request: Request) -> _Hub:
    hub: _Hub = request.app.state.hub
    return hub


def _db(hub: Annotated[_Hub, Depends(_hub)]) -> Iterator[Session]:
    with hub.sessions() as session:
        yield session


HubDep = Annotated[_Hub, Depends(_hub)]
DB = Annotated[Session, Depends(_db)]


def _caller(
    hub: HubDep, session: DB, authorization: Annotated[str | None, Header()] = None
) -> _auth.Principal:
    return _auth.authenticate(session, hub.settings.admin_token, authorization)


Caller = Annotated[_auth.Principal, Depends(_caller)]


def _admin(principal: Caller) -> None:
    _auth.require_role(principal, "admin")


def _node(session: DB, principal: Caller) -> Node:
    _auth.require_role(principal, "node")
    found = session.get(Node, principal.node_id)
    if found is None:  # deleted between authentication and now
        raise HubError("This node is no longer enrolled; enrol it again.", 401)
    return found


ThisNode = Annotated[Node, Depends(_node)]
router = APIRouter()
admin = APIRouter(dependencies=[Depends(_admin)])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@admin.post("/v1/enrolment-tokens", status_code=201)
def enrolment_token(body: EnrolmentTokenIn, hub: HubDep, session: DB) -> dict[str, str]:
    with hub.writing(session):
        token = _auth.create_enrolment_token(session, body.node_name, time.time())
    return {"enrolment_token": token}


@router.post("/v1/nodes/enrol", status_code=201)
def enrol(body: EnrolIn, hub: HubDep, session: DB) -> dict[str, str]:
    with hub.writing(session):
        node_id, token = _auth.enrol(session, body.enrolment_token, body.node_name, time.time())
    return {"node_id": node_id, "node_token": token}


@admin.get("/v1/nodes")
def nodes(session: DB) -> dict[str, Any]:
    return {"nodes": [_node_json(n) for n in session.scalars(select(Node).order_by(Node.name))]}


@admin.post(BUNDLES_PATH)
async def upload_bundle(request: Request, hub: HubDep) -> JSONResponse:
    data = await request.body()  # size already capped by BodyLimit
    stored = await run_in_threadpool(_store_bundle, hub, data)
    return JSONResponse(
        {"version": stored.version, "sha256": stored.sha256, "key_id": stored.key_id},
        status_code=201 if stored.created_now else 200,
    )


def _store_bundle(hub: _Hub, data: bytes) -> _bundles.StoredBundle:
    with hub.sessions() as session, hub.writing(session):
        return _bundles.store_bundle(session, hub.settings.bundle_dir, data, time.time())


@admin.get(BUNDLES_PATH)
def list_bundles(session: DB) -> dict[str, Any]:
    return {
        "bundles": [
            {"version": b.version, "sha256": b.sha256, "created": b.created,
             "key_id": b.key_id, "size": b.size}
            for b in _bundles.list_bundles(session)
        ]
    }  # fmt: skip


@router.get(BUNDLES_PATH + "/{version}")
def download_bundle(version: str, session: DB, principal: Caller) -> FileResponse:
    _auth.require_role(principal, "admin", "node")
    path, sha256 = _bundles.bundle_path(session, version)
    return FileResponse(path, media_type="application/gzip", headers={"X-Edgemark-Sha256": sha256})


@admin.post("/v1/rollouts", status_code=201)
def create_rollout(body: RolloutIn, hub: HubDep, session: DB) -> dict[str, Any]:
    with hub.writing(session):
        rollout = _rollouts.create(
            session, body.version, body.waves, body.soak_heartbeats, time.time()
        )
        return _rollout_json(session, rollout)


@admin.get("/v1/rollouts")
def rollouts(session: DB) -> dict[str, Any]:
    found = session.scalars(select(Rollout).order_by(Rollout.seq.desc()))
    return {"rollouts": [_rollout_json(session, r) for r in found]}


@router.get("/v1/assignment")
def assignment(session: DB, this: ThisNode) -> dict[str, Any]:
    a = _rollouts.assignment_for(session, this)
    return {"version": a.version, "sha256": a.sha256, "rollout_id": a.rollout_id}


@router.post("/v1/heartbeats")
def heartbeat(body: HeartbeatIn, hub: HubDep, session: DB, this: ThisNode) -> dict[str, bool]:
    now = time.time()
    error = (body.bundle_error.version, body.bundle_error.reason) if body.bundle_error else None
    with hub.writing(session):
        this.active_version = body.active_version
        this.last_heartbeat = now
        this.heartbeats += 1
        this.decisions_by_version = dict(body.decisions_by_version)
        this.latency_p50_us = body.latency_p50_us
        this.latency_p99_us = body.latency_p99_us
        if error is not None:
            this.last_error = {"version": error[0], "reason": error[1]}
        _rollouts.on_heartbeat(session, this, body.active_version, error, now)
    return {"ok": True}


@router.post("/v1/reports")
def post_reports(body: ReportsIn, hub: HubDep, session: DB, this: ThisNode) -> dict[str, int]:
    with hub.writing(session):
        stored, duplicates = _reports.store_reports(session, this.id, body.reports, time.time())
    return {"stored": stored, "duplicates": duplicates}


@admin.get("/v1/reports")
def get_reports(session: DB) -> dict[str, Any]:
    return {"reports": _reports.report_rows(session)}


def create_app(settings: HubSettings) -> FastAPI:
    """The hub application over ``settings`` (creates missing tables at start).

    >>> from edgemark.hub import HubSettings, Secret
    >>> app = create_app(HubSettings(Secret("0123456789abcdef"), database_url="sqlite://"))
    >>> app.title
    'edgemark hub'
    """
    engine = create_engine_for(settings.database_url)
    create_schema(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(title="edgemark hub", version="1", lifespan=lifespan)
    app.state.hub = _Hub(settings, session_factory(engine))
    app.include_router(router)
    app.include_router(admin)
    app.add_middleware(BodyLimit, limit_for=lambda method, path: _limit(settings, method, path))
    _add_error_handlers(app)
    return app


def _limit(settings: HubSettings, method: str, path: str) -> int:
    if (method, path) == ("POST", BUNDLES_PATH):
        return settings.max_bundle_bytes
    return settings.max_json_bytes


def _node_json(n: Node) -> dict[str, Any]:
    return {
        "node_id": n.id, "name": n.name, "enrolled_at": n.enrolled_at,
        "active_version": n.active_version, "last_heartbeat": n.last_heartbeat,
        "heartbeats": n.heartbeats, "decisions_by_version": n.decisions_by_version,
        "latency_p50_us": n.latency_p50_us, "latency_p99_us": n.latency_p99_us,
        "last_error": n.last_error,
    }  # fmt: skip


def _rollout_json(session: Session, r: Rollout) -> dict[str, Any]:
    return {
        "id": r.id, "version": r.version, "waves": r.waves, "current_wave": r.current_wave,
        "state": r.state, "soak_heartbeats": r.soak_heartbeats, "created": r.created,
        "previous_version": r.previous_version,
        "events": [{"ts": e.ts, "what": e.what} for e in _rollouts.events_of(session, r.id)],
    }  # fmt: skip


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def hub_error(_request: Request, exc: HubError) -> JSONResponse:
        status = exc.status if 400 <= exc.status < 600 else 400
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "Invalid request: " + "; ".join(parts) + more
