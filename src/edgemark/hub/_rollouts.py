"""The rollout controller: waves, soak, health gates, auto-advance and automatic rollback.

Plain functions over a SQLAlchemy ``Session`` (no HTTP), so each rule is unit-testable,
(wave arithmetic in ``_waves``, manual pause/resume/abort in ``_control``),
and every bit of state lives in the database, so a restarted hub (or another replica)
carries on where the last one stopped. Wave membership is fixed at creation: nodes
sorted by sha256(rollout_id + node_id); wave i covers the first
min(n, max(ceil(pct_i/100 * n), min_nodes)) of them, so a canary wave is never empty.
Nodes enrolled later join the last wave. States::

    in_progress ──pause──► paused ──resume──► in_progress
         │  └─ gates pass, soaked ─► next wave … ─► completed
         └─ a gate fails / a node refuses the bundle ─► rolled_back
    in_progress | paused ──abort──► aborted
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from edgemark.errors import RolloutError
from edgemark.hub import _audit, _gates
from edgemark.hub._db import Bundle, Node, Rollout, RolloutEvent, RolloutMember
from edgemark.hub._sql import insert_ignore, table_of
from edgemark.hub._waves import ordered_nodes, validate_waves, wave_sizes

IN_PROGRESS = "in_progress"
PAUSED = "paused"
COMPLETED = "completed"
ROLLED_BACK = "rolled_back"
ABORTED = "aborted"
STATES = (IN_PROGRESS, PAUSED, COMPLETED, ROLLED_BACK, ABORTED)
ACTIVE = (IN_PROGRESS, PAUSED)
CONTROLLER = "controller"
_CHUNK = 500
_HEALTH = (
    Node.h_version, Node.h_decisions, Node.h_errors, Node.h_p99_us, Node.h_psi,
    Node.h_t_exposures, Node.h_t_conversions, Node.h_h_exposures, Node.h_h_conversions,
)  # fmt: skip


@dataclass(frozen=True)
class Assignment:
    """The bundle version a node should run, and the rollout that decided it."""

    version: str | None
    sha256: str | None
    rollout_id: str | None


@dataclass(frozen=True)
class Beat:
    """What the controller needs from one heartbeat."""

    node_id: str
    node_name: str
    active_version: str | None
    bundle_error: tuple[str, str] | None = None


def members(session: Session, rollout: Rollout, up_to_wave: int | None = None) -> list[str]:
    """Node ids in waves 0..up_to_wave (default: the current wave), in the rollout's order."""
    wave = rollout.current_wave if up_to_wave is None else up_to_wave
    found = session.scalars(
        select(RolloutMember.node_id).where(
            RolloutMember.rollout_id == rollout.id, RolloutMember.wave <= wave
        )
    )
    return ordered_nodes(rollout.id, list(found))


def active(session: Session, *, lock: bool = False) -> Rollout | None:
    """The rollout in progress or paused, if any (``lock``: row-locked on PostgreSQL)."""
    query = select(Rollout).where(Rollout.state.in_(ACTIVE))
    return session.scalar(query.with_for_update() if lock else query)


def in_progress(session: Session) -> Rollout | None:
    """The active rollout (in progress or paused), if any."""
    return active(session)


def last_completed(session: Session) -> Rollout | None:
    """The most recent completed rollout, if any."""
    return session.scalar(
        select(Rollout).where(Rollout.state == COMPLETED).order_by(Rollout.seq.desc()).limit(1)
    )


def get(session: Session, rollout_id: str) -> Rollout:
    """A rollout by id (RolloutError 404 if unknown)."""
    rollout = session.get(Rollout, rollout_id)
    if rollout is None:
        raise RolloutError(
            f"No rollout with id {rollout_id!r}; see `edgemark rollout status`.", 404
        )
    return rollout


def create(
    session: Session,
    version: str,
    waves: Sequence[float],
    soak_heartbeats: int,
    now: float,
    *,
    min_nodes: int = 1,
    soak_seconds: float = 0.0,
    gates: _gates.GatePolicy | None = None,
    actor: str = "bootstrap",
) -> Rollout:
    """Start a rollout of ``version`` (RolloutError 409 if one is active, 404 if no bundle)."""
    clean = validate_waves(waves)
    if soak_heartbeats < 1 or min_nodes < 1 or not soak_seconds >= 0:
        raise RolloutError("soak_heartbeats and min_nodes must be >= 1, soak_seconds >= 0.", 422)
    if session.get(Bundle, version) is None:
        raise RolloutError(
            f"No bundle with version {version!r} in the registry; upload it first "
            "(POST /v1/bundles).",
            404,
        )
    running = active(session, lock=True)
    if running is not None:
        raise RolloutError(
            f"Rollout {running.id} of {running.version} is still "
            f"{running.state.replace('_', ' ')}; wait for it to complete, or abort it, "
            "before starting another.",
            409,
        )
    previous = last_completed(session)
    seq = (session.scalar(select(func.max(Rollout.seq))) or 0) + 1
    rollout_id = f"rollout-{seq}-{secrets.token_hex(3)}"
    node_ids = list(session.scalars(select(Node.id).where(Node.revoked_at.is_(None))))
    sizes = wave_sizes(clean, len(node_ids), min_nodes)
    rollout = Rollout(
        id=rollout_id, seq=seq, version=version, waves=clean, wave_sizes=sizes,
        min_nodes=min_nodes, current_wave=0, state=IN_PROGRESS,
        soak_heartbeats=soak_heartbeats, soak_seconds=float(soak_seconds),
        gates=(gates or _gates.GatePolicy()).to_json(),
        baseline=_baseline(session, version).to_json(), last_gates=[], created=now,
        created_by=actor, updated=now, wave_started=now, pending=sizes[0],
        previous_version=previous.version if previous else None,
    )  # fmt: skip
    session.add(rollout)
    session.flush()
    _add_members(session, rollout_id, ordered_nodes(rollout_id, node_ids), sizes)
    _log_wave_start(session, rollout, now)
    _audit.append(
        session, actor, "rollout.start", rollout_id, now,
        {"version": version, "waves": clean, "wave_sizes": sizes, "min_nodes": min_nodes,
         "soak_heartbeats": soak_heartbeats, "soak_seconds": soak_seconds,
         "previous_version": rollout.previous_version},
    )  # fmt: skip
    return rollout


def _add_members(session: Session, rollout_id: str, order: list[str], sizes: list[int]) -> None:
    rows: list[dict[str, Any]] = []
    for rank, node_id in enumerate(order):
        wave = next((i for i, size in enumerate(sizes) if rank < size), len(sizes) - 1)
        rows.append({"rollout_id": rollout_id, "node_id": node_id, "wave": wave,
                     "healthy_heartbeats": 0})  # fmt: skip
    for start in range(0, len(rows), _CHUNK):
        session.execute(table_of(RolloutMember).insert(), rows[start : start + _CHUNK])


def _baseline(session: Session, version: str) -> _gates.Figures:
    rows = session.execute(
        select(*_HEALTH).where(
            Node.revoked_at.is_(None), Node.h_version.is_not(None), Node.h_version != version
        )
    )
    return _gates.Figures.of(r._asdict() for r in rows)


def events_of(session: Session, rollout_id: str) -> list[RolloutEvent]:
    """The history of a rollout, oldest first."""
    return list(
        session.scalars(
            select(RolloutEvent)
            .where(RolloutEvent.rollout_id == rollout_id)
            .order_by(RolloutEvent.id)
        )
    )


def assignment_for(session: Session, node: Node | str) -> Assignment:
    """The version a node should run now.

    In an active rollout: its target for nodes in waves <= current (late nodes: once the
    last wave runs), otherwise the previous version. Without one: the version of the last
    completed rollout (None if none).
    """
    node_id = node if isinstance(node, str) else node.id
    rollout = active(session)
    if rollout is not None:
        wave = session.scalar(
            select(RolloutMember.wave).where(
                RolloutMember.rollout_id == rollout.id, RolloutMember.node_id == node_id
            )
        )
        last = len(rollout.waves) - 1
        if (wave if wave is not None else last) <= rollout.current_wave:
            return _assignment(session, rollout.version, rollout.id)
        return _assignment(session, rollout.previous_version, rollout.id)
    done = last_completed(session)
    if done is None:
        return Assignment(None, None, None)
    return _assignment(session, done.version, done.id)


def on_heartbeat(
    session: Session,
    node: Node,
    active_version: str | None,
    bundle_error: tuple[str, str] | None,
    now: float,
) -> None:
    """One node's heartbeat (see ``apply_heartbeats``)."""
    apply_heartbeats(session, [Beat(node.id, node.name, active_version, bundle_error)], now)


def apply_heartbeats(session: Session, beats: Sequence[Beat], now: float) -> dict[str, int]:
    """Let heartbeats move the active rollout: roll back on a refused bundle, count healthy
    heartbeats (running the target version) of current-wave members, and evaluate the
    gates and advance once the last pending member soaked. Returns the nodes' waves."""
    rollout = active(session, lock=True)
    if rollout is None or not beats:
        return {}
    for beat in beats:
        if beat.bundle_error is not None and beat.bundle_error[0] == rollout.version:
            reason = f"{beat.node_name} refused {rollout.version}: {beat.bundle_error[1]}"
            finish(session, rollout, ROLLED_BACK, now, f"rolled back: {reason}", CONTROLLER)
            return {}
    waves = _member_waves(session, rollout, [b.node_id for b in beats])
    healthy = Counter(
        b.node_id for b in beats
        if b.active_version == rollout.version and waves[b.node_id] <= rollout.current_wave
    )  # fmt: skip
    if not healthy:
        return waves
    before = {
        node_id: count
        for node_id, count in session.execute(
            select(RolloutMember.node_id, RolloutMember.healthy_heartbeats).where(
                RolloutMember.rollout_id == rollout.id, RolloutMember.node_id.in_(list(healthy))
            )
        )
    }
    table = table_of(RolloutMember)
    session.execute(
        update(table)
        .where(and_(table.c.rollout_id == rollout.id, table.c.node_id == bindparam("b_node")))
        .values(healthy_heartbeats=table.c.healthy_heartbeats + bindparam("b_k")),
        [{"b_node": n, "b_k": k} for n, k in healthy.items()],
    )
    soak = rollout.soak_heartbeats
    crossed = sum(1 for n, k in healthy.items() if before.get(n, 0) < soak <= before.get(n, 0) + k)
    if crossed:
        rollout.pending -= crossed
        if rollout.pending <= 0:
            evaluate(session, rollout, now)
    return waves


def assignments_for(session: Session, waves: dict[str, int]) -> Callable[[str], Assignment]:
    """A lookup of the assignment of nodes whose waves ``apply_heartbeats`` returned (a
    few queries per batch, however many nodes)."""
    rollout = active(session)  # from the session's identity map if apply_heartbeats ran
    if rollout is None:
        done = last_completed(session)
        fixed = (
            Assignment(None, None, None)
            if done is None
            else _assignment(session, done.version, done.id)
        )
        return lambda _node_id: fixed
    target = _assignment(session, rollout.version, rollout.id)
    previous = _assignment(session, rollout.previous_version, rollout.id)
    last = len(rollout.waves) - 1

    def lookup(node_id: str) -> Assignment:
        return target if waves.get(node_id, last) <= rollout.current_wave else previous

    return lookup


def _member_waves(session: Session, rollout: Rollout, node_ids: list[str]) -> dict[str, int]:
    wanted = sorted(set(node_ids))
    waves: dict[str, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found = session.execute(
            select(RolloutMember.node_id, RolloutMember.wave).where(
                RolloutMember.rollout_id == rollout.id, RolloutMember.node_id.in_(chunk)
            )
        )
        waves.update({node_id: wave for node_id, wave in found})
    late = [n for n in wanted if n not in waves]
    if late:  # enrolled after the rollout started: they join the last wave
        last = len(rollout.waves) - 1
        rows = [{"rollout_id": rollout.id, "node_id": n, "wave": last, "healthy_heartbeats": 0}
                for n in late]  # fmt: skip
        session.execute(insert_ignore(session, table_of(RolloutMember)), rows)
        waves.update(dict.fromkeys(late, last))
        if rollout.current_wave == last:
            rollout.pending += len(late)
    return waves


def tick(session: Session, now: float) -> Rollout | None:
    """The controller's periodic step: evaluate the active rollout (if any) and return it."""
    rollout = active(session, lock=True)
    if rollout is not None:
        evaluate(session, rollout, now)
    return rollout


def evaluate(session: Session, rollout: Rollout, now: float) -> None:
    """Recount pending members, run the gates (a failure rolls back, also while paused),
    and advance through every wave that is soaked, its soak time over and its gates green."""
    while rollout.state in ACTIVE:
        counted, rollout.pending = _recount(session, rollout)
        results = _gates.evaluate(*_figures(session, rollout), _policy(rollout))
        rollout.last_gates = [r.to_json() for r in results]
        bad = _gates.failed(results)
        if bad:
            what = "; ".join(f"gate {r.gate} failed: {r.detail}" for r in bad)
            finish(session, rollout, ROLLED_BACK, now, f"rolled back: {what}", CONTROLLER)
            return
        soaked = counted > 0 and rollout.pending == 0
        if not (rollout.state == IN_PROGRESS and soaked):
            return
        if now - rollout.wave_started < rollout.soak_seconds:
            return
        if rollout.current_wave == len(rollout.waves) - 1:
            finish(session, rollout, COMPLETED, now, "completed", CONTROLLER)
            return
        rollout.current_wave += 1
        rollout.wave_started = rollout.updated = now
        _log_wave_start(session, rollout, now)
        _audit.append(session, CONTROLLER, "rollout.advance", rollout.id, now,
                      {"wave": rollout.current_wave + 1, "gates": rollout.last_gates})  # fmt: skip


def _policy(rollout: Rollout) -> _gates.GatePolicy:
    return _gates.GatePolicy.from_json(rollout.gates)


def _recount(session: Session, rollout: Rollout) -> tuple[int, int]:
    """(members of the current waves, of which not soaked yet), revoked nodes left out."""
    m = RolloutMember
    unsoaked = func.sum(case((m.healthy_heartbeats < rollout.soak_heartbeats, 1), else_=0))
    row = session.execute(
        select(func.count(), func.coalesce(unsoaked, 0))
        .select_from(m)
        .join(Node, Node.id == m.node_id)
        .where(m.rollout_id == rollout.id, m.wave <= rollout.current_wave)
        .where(Node.revoked_at.is_(None))
    ).one()
    return int(row[0]), int(row[1])


def _figures(session: Session, rollout: Rollout) -> tuple[_gates.Figures, _gates.Figures]:
    m = RolloutMember
    rows = session.execute(
        select(m.wave, *_HEALTH)
        .select_from(Node)
        .outerjoin(m, and_(m.node_id == Node.id, m.rollout_id == rollout.id))
        .where(Node.revoked_at.is_(None), Node.h_version.is_not(None))
    ).all()
    wave, rest = _gates.Figures(), _gates.Figures()
    for row in rows:
        values = row._asdict()
        in_wave = row.wave is not None and row.wave <= rollout.current_wave
        if in_wave and row.h_version == rollout.version:
            wave.add(values)
        elif not in_wave and row.h_version != rollout.version:
            rest.add(values)
    if rest.decisions < _policy(rollout).min_decisions:
        rest = _gates.Figures.baseline(rollout.baseline)  # e.g. the last wave: no rest left
    return wave, rest


def finish(  # the one way a rollout changes state: logged in its history and audited
    session: Session,
    rollout: Rollout,
    state: str,
    now: float,
    what: str,
    actor: str,
    action: str | None = None,
) -> None:
    rollout.state, rollout.updated = state, now
    _log(session, rollout, now, what)
    details = {"version": rollout.version, "wave": rollout.current_wave + 1, "what": what}
    _audit.append(session, actor, action or f"rollout.{state}", rollout.id, now, details)


def _assignment(session: Session, version: str | None, rollout_id: str) -> Assignment:
    sha = (
        session.scalar(select(Bundle.sha256).where(Bundle.version == version)) if version else None
    )
    return Assignment(version, sha, rollout_id)


def _log_wave_start(session: Session, rollout: Rollout, now: float) -> None:
    n = rollout.wave_sizes[rollout.current_wave]
    nodes = "node" if n == 1 else "nodes"
    _log(
        session,
        rollout,
        now,
        f"wave {rollout.current_wave + 1} of {len(rollout.waves)} started ({n} {nodes})",
    )


def _log(session: Session, rollout: Rollout, now: float, what: str) -> None:
    session.add(RolloutEvent(rollout_id=rollout.id, ts=now, what=what))
    session.flush()
