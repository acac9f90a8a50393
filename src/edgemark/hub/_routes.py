"""The hub's HTTP routes: thin over the plain-function modules, each one scoped.

read: list nodes, bundles, rollouts, reports, the audit log; deploy: upload bundles, run
rollouts; admin: tokens, enrolment tokens, revocation. Nodes: assignment, bundle
download, heartbeats, reports. Every admin action lands in the audit log.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from edgemark.errors import AuthError
from edgemark.hub import _audit, _auth, _bundles, _control, _gates, _reports, _rollouts
from edgemark.hub._db import AdminToken, Node, Rollout
from edgemark.hub._deps import (
    DB,
    Admin,
    AuthHeader,
    Caller,
    Deployer,
    HubDep,
    HubState,
    Reader,
    ThisNode,
)
from edgemark.hub._heartbeats import Job
from edgemark.hub._schemas import (
    ERROR_RESPONSES,
    AdminTokenIn,
    EnrolIn,
    EnrolmentTokenIn,
    HeartbeatIn,
    ReasonIn,
    ReportsIn,
    RolloutIn,
)

BUNDLES_PATH = "/v1/bundles"
VersionPath = Annotated[str, Path(pattern=_bundles.VERSION_PATTERN)]
IdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


# -- enrolment, nodes and tokens -----------------------------------------------------------
@router.post("/v1/enrolment-tokens", status_code=201)
def enrolment_token(body: EnrolmentTokenIn, hub: HubDep, session: DB, who: Admin) -> dict[str, Any]:
    now = time.time()
    with hub.writing(session):
        token = _auth.create_enrolment_token(
            session, body.node_name, who.actor, now, hub.settings.enrolment_ttl_s
        )
        _audit.append(session, who.actor, "enrolment_token.create", body.node_name, now)
    return {"enrolment_token": token, "expires_at": now + hub.settings.enrolment_ttl_s}


@router.post("/v1/nodes/enrol", status_code=201)
def enrol(body: EnrolIn, hub: HubDep, session: DB) -> dict[str, str]:
    now = time.time()
    with hub.writing(session):
        node_id, token = _auth.enrol(session, body.enrolment_token, body.node_name, now)
        _audit.append(session, node_id, "node.enrol", body.node_name, now, {"node_id": node_id})
    return {"node_id": node_id, "node_token": token}


@router.get("/v1/nodes")
def nodes(session: DB, _who: Reader) -> dict[str, Any]:
    return {"nodes": [_node_json(n) for n in session.scalars(select(Node).order_by(Node.name))]}


@router.post("/v1/nodes/{node}/revoke")
def revoke_node(
    node: IdPath, hub: HubDep, session: DB, who: Admin, body: ReasonIn | None = None
) -> dict[str, Any]:
    now = time.time()
    with hub.writing(session):
        found = _auth.revoke_node(session, node, now)
        reason = body.reason if body else ""
        _audit.append(session, who.actor, "node.revoke", found.name,
                      now, {"node_id": found.id, "reason": reason})  # fmt: skip
        _rollouts.tick(session, now)  # a revoked member no longer holds its wave back
    return _node_json(found)


@router.post("/v1/admin-tokens", status_code=201)
def create_admin_token(body: AdminTokenIn, hub: HubDep, session: DB, who: Admin) -> dict[str, Any]:
    now = time.time()
    with hub.writing(session):
        row, token = _auth.create_admin_token(session, body.name, body.scope, who.actor, now)
        _audit.append(session, who.actor, "admin_token.create", row.id, now,
                      {"name": row.name, "scope": row.scope})  # fmt: skip
    return {**_token_json(row), "token": token}


@router.get("/v1/admin-tokens")
def admin_tokens(session: DB, _who: Admin) -> dict[str, Any]:
    rows = session.scalars(select(AdminToken).order_by(AdminToken.created_at))
    return {"tokens": [_token_json(r) for r in rows]}


@router.post("/v1/admin-tokens/{token_id}/revoke")
def revoke_admin_token(token_id: IdPath, hub: HubDep, session: DB, who: Admin) -> dict[str, Any]:
    now = time.time()
    with hub.writing(session):
        row = _auth.revoke_admin_token(session, token_id, now)
        _audit.append(session, who.actor, "admin_token.revoke", row.id, now)
    return _token_json(row)


# -- bundles ----------------------------------------------------------------------------------
@router.post(BUNDLES_PATH)
async def upload_bundle(request: Request, hub: HubDep, who: Deployer) -> JSONResponse:
    data = await request.body()  # size already capped by BodyLimit
    stored = await run_in_threadpool(_store_bundle, hub, data, who.actor)
    return JSONResponse(
        {"version": stored.version, "sha256": stored.sha256, "key_id": stored.key_id},
        status_code=201 if stored.created_now else 200,
    )


def _store_bundle(hub: HubState, data: bytes, actor: str) -> _bundles.StoredBundle:
    now = time.time()
    with hub.sessions() as session, hub.writing(session):
        stored = _bundles.store_bundle(session, hub.settings.bundle_dir, data, now)
        if stored.created_now:
            _audit.append(session, actor, "bundle.upload", stored.version, now,
                          {"sha256": stored.sha256, "key_id": stored.key_id})  # fmt: skip
        return stored


@router.get(BUNDLES_PATH)
def list_bundles(session: DB, _who: Reader) -> dict[str, Any]:
    return {
        "bundles": [
            {"version": b.version, "sha256": b.sha256, "created": b.created,
             "key_id": b.key_id, "size": b.size}
            for b in _bundles.list_bundles(session)
        ]
    }  # fmt: skip


@router.get(BUNDLES_PATH + "/{version}")
def download_bundle(version: VersionPath, session: DB, principal: Caller) -> FileResponse:
    if principal.kind == "admin":
        _auth.require_scope(principal, "read")
    path, sha256 = _bundles.bundle_path(session, version)
    return FileResponse(path, media_type="application/gzip", headers={"X-Edgemark-Sha256": sha256})


# -- rollouts ---------------------------------------------------------------------------------
@router.post("/v1/rollouts", status_code=201)
def create_rollout(body: RolloutIn, hub: HubDep, session: DB, who: Deployer) -> dict[str, Any]:
    gates = _gates.GatePolicy(**body.gates.model_dump())
    with hub.writing(session):
        rollout = _rollouts.create(
            session, body.version, body.waves, body.soak_heartbeats, time.time(),
            min_nodes=body.min_nodes, soak_seconds=body.soak_seconds, gates=gates,
            actor=who.actor,
        )  # fmt: skip
        return rollout_json(session, rollout)


@router.get("/v1/rollouts")
def rollouts(session: DB, _who: Reader) -> dict[str, Any]:
    found = session.scalars(select(Rollout).order_by(Rollout.seq.desc()))
    return {"rollouts": [rollout_json(session, r) for r in found]}


@router.get("/v1/rollouts/{rollout_id}")
def rollout(rollout_id: IdPath, session: DB, _who: Reader) -> dict[str, Any]:
    return rollout_json(session, _rollouts.get(session, rollout_id))


def _control_route(verb: str) -> Any:
    action = {"pause": _control.pause, "resume": _control.resume, "abort": _control.abort}[verb]

    def control(
        rollout_id: IdPath, hub: HubDep, session: DB, who: Deployer, body: ReasonIn | None = None
    ) -> dict[str, Any]:
        with hub.writing(session):
            found = action(session, rollout_id, time.time(), who.actor, body.reason if body else "")
            return rollout_json(session, found)

    control.__name__ = f"{verb}_rollout"
    control.__doc__ = f"{verb.capitalize()} a rollout (deploy scope)."
    return control


for _verb in ("pause", "resume", "abort"):
    router.post(f"/v1/rollouts/{{rollout_id}}/{_verb}")(_control_route(_verb))


# -- what nodes call --------------------------------------------------------------------------
@router.get("/v1/assignment")
async def assignment(request: Request, authorization: AuthHeader = None) -> dict[str, Any]:
    """The bundle version this node should run (heartbeat answers carry it too)."""
    hub: HubState = request.app.state.hub
    # One thread-pool hop for auth and lookup (dependencies would each take one).
    return await run_in_threadpool(_assignment_of, hub, authorization)


def _assignment_of(hub: HubState, authorization: str | None) -> dict[str, Any]:
    with hub.sessions() as session:
        principal = _auth.authenticate(session, hub.settings.admin_token, authorization)
        if principal.node_id is None:
            raise AuthError("Forbidden: this endpoint needs a node token, not an admin token.", 403)
        return _assignment_json(_rollouts.assignment_for(session, principal.node_id))


@router.post("/v1/heartbeats")
async def heartbeat(
    body: HeartbeatIn, request: Request, authorization: AuthHeader = None
) -> dict[str, Any]:
    """Store a node's heartbeat (group-committed) and answer with its assignment, so a node
    needs one round trip per sync while nothing changes."""
    hub: HubState = request.app.state.hub  # no dependency: this is the hot path
    token = _auth.bearer_token(authorization)
    if token.startswith(_auth.ADMIN_PREFIX) or hub.settings.admin_token.matches(token):
        raise AuthError("Forbidden: this endpoint needs a node token, not an admin token.", 403)
    result = await asyncio.wrap_future(hub.writer.submit(Job(_auth.token_sha256(token), body)))
    if isinstance(result, AuthError):
        raise result
    return {"ok": True, "assignment": _assignment_json(result)}


def _assignment_json(a: _rollouts.Assignment) -> dict[str, Any]:
    return {"version": a.version, "sha256": a.sha256, "rollout_id": a.rollout_id}


@router.post("/v1/reports")
def post_reports(body: ReportsIn, hub: HubDep, session: DB, this: ThisNode) -> dict[str, int]:
    with hub.writing(session):
        stored, duplicates = _reports.store_reports(session, this, body.reports, time.time())
    return {"stored": stored, "duplicates": duplicates}


@router.get("/v1/reports")
def get_reports(session: DB, _who: Reader) -> dict[str, Any]:
    return {"reports": _reports.report_rows(session)}


# -- audit ------------------------------------------------------------------------------------
@router.get("/v1/audit")
def audit(
    session: DB,
    _who: Reader,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    seq, digest = _audit.head(session)
    entries = [_audit.entry_json(e) for e in _audit.entries(session, after, limit)]
    return {"entries": entries, "head": {"seq": seq, "hash": digest}}


@router.get("/v1/audit/verify")
def audit_verify(session: DB, _who: Reader) -> dict[str, Any]:
    return _audit.verify_session(session).to_json()


# -- JSON shapes ------------------------------------------------------------------------------
def _node_json(n: Node) -> dict[str, Any]:
    return {
        "node_id": n.id, "name": n.name, "enrolled_at": n.enrolled_at,
        "revoked_at": n.revoked_at, "active_version": n.active_version,
        "last_heartbeat": n.last_heartbeat, "heartbeats": n.heartbeats,
        "decisions_by_version": n.decisions_by_version, "latency_p50_us": n.latency_p50_us,
        "latency_p99_us": n.latency_p99_us, "last_error": n.last_error,
        "health": {"version": n.h_version, "decisions": n.h_decisions, "errors": n.h_errors,
                   "decide_p99_us": n.h_p99_us, "drift_psi": n.h_psi},
    }  # fmt: skip


def _token_json(t: AdminToken) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "scope": t.scope, "created_at": t.created_at,
            "created_by": t.created_by, "revoked_at": t.revoked_at}  # fmt: skip


def rollout_json(session: Session, r: Rollout) -> dict[str, Any]:
    """A rollout with its history, as the API serves it."""
    return {
        "id": r.id, "version": r.version, "waves": r.waves, "wave_sizes": r.wave_sizes,
        "min_nodes": r.min_nodes, "current_wave": r.current_wave, "state": r.state,
        "soak_heartbeats": r.soak_heartbeats, "soak_seconds": r.soak_seconds,
        "pending": r.pending, "created": r.created, "created_by": r.created_by,
        "updated": r.updated, "wave_started": r.wave_started,
        "previous_version": r.previous_version, "gates": r.gates, "last_gates": r.last_gates,
        "events": [{"ts": e.ts, "what": e.what} for e in _rollouts.events_of(session, r.id)],
    }  # fmt: skip
