"""The hub application: migrate the database, wire routes, limits and error handlers.

Every error is a 4xx JSON ``{"detail": "..."}`` (a malformed body never gives a 500); a
database that is unreachable or busy answers 503 so clients retry.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from edgemark.errors import HubError
from edgemark.hub import _migrate
from edgemark.hub._console import router as console_router
from edgemark.hub._db import create_engine_for, session_factory
from edgemark.hub._deps import HubState
from edgemark.hub._fastpath import HeartbeatFastPath, validation_message
from edgemark.hub._federated import router as federated_router
from edgemark.hub._heartbeats import HeartbeatWriter
from edgemark.hub._limits import BodyLimit
from edgemark.hub._observe import HttpStats, Observe
from edgemark.hub._observe import router as observe_router
from edgemark.hub._privacy_routes import router as privacy_router
from edgemark.hub._ratelimit import RateLimit, TokenBuckets
from edgemark.hub._routes import BUNDLES_PATH, router
from edgemark.hub._settings import HubSettings

log = logging.getLogger(__name__)


def create_app(settings: HubSettings) -> FastAPI:
    """The hub application over ``settings``; upgrades the database schema first.

    >>> from edgemark.hub import HubSettings, Secret
    >>> app = create_app(HubSettings(Secret("0123456789abcdef"), database_url="sqlite://"))
    >>> app.title
    'edgemark hub'
    """
    engine = create_engine_for(settings.database_url)
    _migrate.upgrade(engine)
    sessions = session_factory(engine)
    lock = threading.RLock()
    writer = HeartbeatWriter(
        sessions, lock, interval_s=settings.controller_interval_s,
        batch_max=settings.heartbeat_batch_max,
    )  # fmt: skip
    hub = HubState(settings, sessions, writer, lock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.writer.start()
        try:
            yield
        finally:
            hub.writer.stop()
            engine.dispose()

    app = FastAPI(
        title="edgemark hub",
        version="1",
        description="Control plane of an edgemark fleet: enrolment, bundles, rollouts, "
        "heartbeats, DP reports and the audit log. Authenticate with 'Authorization: "
        "Bearer <token>' (admin tokens: read < deploy < admin; node tokens).",
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.include_router(router)
    app.include_router(console_router)
    app.include_router(observe_router)
    app.include_router(privacy_router)
    app.include_router(federated_router)
    app.add_middleware(HeartbeatFastPath, writer=lambda: hub.writer, bootstrap=settings.admin_token)
    app.add_middleware(BodyLimit, limit_for=lambda method, path: _limit(settings, method, path))
    buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.add_middleware(RateLimit, buckets=buckets)
    app.state.http_stats = HttpStats()
    app.add_middleware(Observe, stats=app.state.http_stats)  # outermost: sees every request
    _add_error_handlers(app)
    return app


def _limit(settings: HubSettings, method: str, path: str) -> int:
    if (method, path) == ("POST", BUNDLES_PATH):
        return settings.max_bundle_bytes
    return settings.max_json_bytes


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def hub_error(_request: Request, exc: HubError) -> JSONResponse:
        status = exc.status if 400 <= exc.status < 600 else 400
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        # The statement may hold request data; log only the error class.
        log.error("database error on %s %s: %s", request.method, request.url.path,
                  type(exc).__name__)  # fmt: skip
        return JSONResponse(
            {"detail": "The hub's database is unavailable or busy; retry shortly."},
            status_code=503,
            headers={"Retry-After": "1"},
        )
