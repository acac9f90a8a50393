"""The operator console's routes at /console: login, the six pages, rollout actions, assets.

Pages render on the server (no client framework); every answer carries a strict CSP, a
``Server-Timing`` header with the time spent, and errors as HTML pages (401, 403, 404,
409) rather than the API's JSON. Actions call the same control functions as the API and
land in the same audit log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from importlib import util as importlib_util
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from edgemark.errors import AuthError, HubError
from edgemark.hub import _console_auth as auth
from edgemark.hub import (
    _console_bundles,
    _console_data,
    _console_measure,
    _console_pages,
    _control,
)
from edgemark.hub._console_html import CSS, JS, SECURITY_HEADERS, error_page, esc, layout
from edgemark.hub._deps import HubState

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
PageNo = Annotated[int, Query(ge=1, le=10**6)]
_ACTIONS = {"pause": _control.pause, "resume": _control.resume, "abort": _control.abort}
_ASSETS: dict[str, bytes] = {}


def _html(
    body: str, status: int, started: float, headers: dict[str, str] | None = None
) -> Response:
    took = (time.perf_counter() - started) * 1000
    extra = {**SECURITY_HEADERS, "Server-Timing": f"app;dur={took:.1f}", **(headers or {})}
    return HTMLResponse(body, status_code=status, headers=extra)


def _render(
    request: Request, title: str, active: str, body: Callable[[Session, auth.ConsoleUser], str]
) -> Response:
    """Authenticate the session cookie, render a page, or render the error page."""
    started = time.perf_counter()
    hub: HubState = request.app.state.hub
    user = None
    try:
        with hub.sessions() as session:
            user = auth.user_of(session, hub.settings.admin_token,
                                request.cookies.get(auth.COOKIE), time.time())  # fmt: skip
            return _html(layout(title, body(session, user), user, active), 200, started)
    except HubError as exc:
        return _error(exc, user, started)
    except Exception:  # a bug must not become a 500 or leak a traceback to the browser
        log.exception("console page %s failed", request.url.path)
        failed = HubError("The console failed on this page; the hub's log has the details.", 503)
        return _html(error_page(503, str(failed), user), 503, started)


def _error(exc: HubError, user: auth.ConsoleUser | None, started: float) -> Response:
    status = exc.status if exc.status in (401, 403, 404, 409) else 400
    return _html(error_page(status, str(exc), user), status, started)


@router.get("")
@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/console/fleet", status_code=303)


@router.get("/login")
def login_page(request: Request) -> Response:
    return _html(_login_form(None), 200, time.perf_counter())


def _login_form(message: str | None) -> str:
    alert = f'<p class="notice bad" role="alert">{esc(message)}</p>' if message else ""
    body = (
        f"{alert}<p>Log in with an admin token. A token with the read scope gets read-only "
        "views; deploy or admin scope may pause, resume and abort rollouts.</p>"
        '<form method="post" action="/console/login" class="stack">'
        '<label for="token">Admin token</label>'
        '<input type="password" id="token" name="token" autocomplete="off" required autofocus>'
        '<button type="submit">Log in</button></form>'
    )
    return layout("Log in", body, None)


@router.post("/login")
async def login(request: Request) -> Response:
    started = time.perf_counter()
    form = await _form(request)
    hub: HubState = request.app.state.hub
    try:
        auth.check_origin(request.headers.get("origin"), request.headers.get("host"))
        cookie = await run_in_threadpool(_login, hub, form.get("token", ""))
    except HubError as exc:
        status = exc.status if exc.status in (401, 403) else 400
        return _html(_login_form(str(exc)), status, started)
    response = RedirectResponse("/console/fleet", status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        auth.COOKIE, cookie, max_age=int(auth.SESSION_S), path=auth.COOKIE_PATH, httponly=True,
        samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return response


def _login(hub: HubState, token: str) -> str:
    if not token.strip():
        raise AuthError("Enter an admin token.", 401)
    with hub.sessions() as session:
        return auth.login(session, hub.settings.admin_token, token, time.time())


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = RedirectResponse("/console/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(auth.COOKIE, path=auth.COOKIE_PATH, httponly=True, samesite="strict")
    return response


async def _form(request: Request) -> dict[str, str]:
    raw = await request.body()  # BodyLimit already capped the size
    try:
        parsed = parse_qs(raw.decode(), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {k: v[0] for k, v in parsed.items()}


# -- pages ------------------------------------------------------------------------------------
@router.get("/fleet")
def fleet(request: Request, page: PageNo = 1, status: str = "all", order: str = "name") -> Response:
    status = status if status in _console_data.FLEET_FILTERS else "all"
    order = order if order in _console_data.FLEET_ORDERS else "name"
    return _render(request, "Fleet", "fleet",
                   lambda s, _u: _console_pages.fleet(s, page, status, order))  # fmt: skip


@router.get("/rollouts")
def rollouts(request: Request, page: PageNo = 1) -> Response:
    return _render(request, "Rollouts", "rollouts",
                   lambda s, _u: _console_pages.rollouts(s, page))  # fmt: skip


@router.get("/rollouts/{rollout_id}")
def rollout(request: Request, rollout_id: str, done: str | None = None) -> Response:
    done = done if done in ("paused", "resumed", "aborted") else None
    return _render(request, f"Rollout {rollout_id}", "rollouts",
                   lambda s, u: _console_pages.rollout(s, rollout_id, u, done))  # fmt: skip


@router.get("/rollouts/{rollout_id}/{verb}")
def confirm(request: Request, rollout_id: str, verb: str) -> Response:
    def body(session: Session, user: auth.ConsoleUser) -> str:
        _may_act(user, verb)
        return _console_pages.confirm(session, rollout_id, verb, user)

    return _render(request, f"{verb.capitalize()} rollout", "rollouts", body)


def _may_act(user: auth.ConsoleUser, verb: str) -> None:
    if verb not in _ACTIONS:
        raise HubError(f"There is no rollout action {verb!r} (pause, resume, abort).", 404)
    if not user.can_deploy:
        raise AuthError(
            f"Your token ({user.actor}) has the {user.scope} scope; pausing, resuming and "
            "aborting rollouts needs the deploy scope.",
            403,
        )


@router.post("/rollouts/{rollout_id}/{verb}")
async def act(request: Request, rollout_id: str, verb: str) -> Response:
    started = time.perf_counter()
    form = await _form(request)
    hub: HubState = request.app.state.hub
    cookie = request.cookies.get(auth.COOKIE)
    origin = request.headers.get("origin"), request.headers.get("host")
    return await run_in_threadpool(_act, hub, cookie, origin, rollout_id, verb, form, started)


def _act(
    hub: HubState, cookie: str | None, origin: tuple[str | None, str | None], rollout_id: str,
    verb: str, form: dict[str, str], started: float,
) -> Response:  # fmt: skip
    user = None
    try:
        with hub.sessions() as session:
            user = auth.user_of(session, hub.settings.admin_token, cookie, time.time())
            auth.check_csrf(user, form.get("csrf"))
            auth.check_origin(*origin)
            _may_act(user, verb)
            reason = form.get("reason", "").strip()[:500] or "from the console"
            with hub.writing(session):
                _ACTIONS[verb](session, rollout_id, time.time(), user.actor, reason)
    except HubError as exc:
        return _error(exc, user, started)
    done = {"pause": "paused", "resume": "resumed", "abort": "aborted"}[verb]
    return RedirectResponse(f"/console/rollouts/{rollout_id}?done={done}", status_code=303,
                            headers=SECURITY_HEADERS)  # fmt: skip


@router.get("/experiments")
def experiments(request: Request) -> Response:
    return _render(request, "Experiments and measurement", "experiments",
                   lambda s, _u: _console_measure.experiments(s))  # fmt: skip


@router.get("/privacy")
def privacy(request: Request, page: PageNo = 1) -> Response:
    budget = request.app.state.hub.settings.privacy_budget

    def body(session: Session, _user: auth.ConsoleUser) -> str:
        ledger = _console_data.privacy_ledger(session, budget, time.time())
        ids = [n["node_id"] for n in ledger["nodes"]]
        names = _console_data.node_names(session, ids[(page - 1) * 50 : page * 50])
        return _console_pages.privacy(ledger, names, page)

    return _render(request, "Privacy", "privacy", body)


@router.get("/audit")
def audit(request: Request, page: PageNo = 1) -> Response:
    return _render(request, "Audit log", "audit", lambda s, _u: _console_pages.audit(s, page))


@router.get("/bundles")
def bundles(request: Request, page: PageNo = 1) -> Response:
    return _render(request, "Bundles", "bundles",
                   lambda s, _u: _console_bundles.bundles(s, page))  # fmt: skip


@router.get("/bundles/{version}")
def bundle(request: Request, version: str) -> Response:
    return _render(request, f"Bundle {version}", "bundles",
                   lambda s, _u: _console_bundles.bundle(s, version))  # fmt: skip


# -- assets -----------------------------------------------------------------------------------
@router.get("/static/{name}")
def static(name: str) -> Response:
    kinds = {"console.css": "text/css", "console.js": "text/javascript",
             "plotly.min.js": "text/javascript"}  # fmt: skip
    content = _asset(name) if name in kinds else None
    if content is None:
        return _html(error_page(404, f"No console asset {name!r}.", None), 404, time.perf_counter())
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(content, media_type=kinds[name] + "; charset=utf-8", headers=headers)


def _asset(name: str) -> bytes | None:
    if name not in _ASSETS:
        if name == "plotly.min.js":
            spec = importlib_util.find_spec("plotly")
            if spec is None or spec.origin is None:
                return None  # pages still work; console.js says charts need the extra
            _ASSETS[name] = (Path(spec.origin).parent / "package_data" / name).read_bytes()
        else:
            _ASSETS[name] = (CSS if name == "console.css" else JS).encode()
    return _ASSETS[name]


@router.get("/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    return _render(
        request,
        "Not found",
        "",
        lambda _s, _u: _raise(HubError(f"No console page /console/{rest}.", 404)),
    )


def _raise(exc: HubError) -> str:
    raise exc
