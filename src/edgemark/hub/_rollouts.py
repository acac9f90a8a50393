"""The rollout controller: waves of nodes, soak-gated advancement and automatic rollback.

Plain functions over a SQLAlchemy ``Session`` (no HTTP), so each rule is unit-testable.
Wave membership: nodes sorted by sha256(rollout_id + node_id); wave i covers the first
ceil(pct_i/100 * n) of them, so a canary wave is never empty.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edgemark.errors import RolloutError
from edgemark.hub._db import Bundle, Node, Rollout, RolloutEvent, RolloutProgress

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
ROLLED_BACK = "rolled_back"
ABORTED = "aborted"
STATES = (IN_PROGRESS, COMPLETED, ROLLED_BACK, ABORTED)


@dataclass(frozen=True)
class Assignment:
    """The bundle version a node should run, and the rollout that decided it."""

    version: str | None
    sha256: str | None
    rollout_id: str | None


def validate_waves(waves: Sequence[float]) -> list[float]:
    """Check waves are non-empty, strictly increasing percentages in (0, 100] ending at 100."""
    if not waves:
        raise RolloutError("waves must not be empty; e.g. [25, 50, 100].", 422)
    if any(not (0 < w <= 100) for w in waves):
        raise RolloutError(f"every wave must be a percentage in (0, 100]; got {list(waves)}.", 422)
    if any(b <= a for a, b in itertools.pairwise(waves)):
        raise RolloutError(f"waves must be strictly increasing; got {list(waves)}.", 422)
    if waves[-1] != 100:
        raise RolloutError(f"the last wave must be 100 (every node); got {list(waves)}.", 422)
    return [float(w) for w in waves]


def wave_sizes(waves: Sequence[float], n_nodes: int) -> list[int]:
    """How many nodes waves 0..k cover: ceil(pct/100 * n), cumulative.

    >>> wave_sizes([25, 50, 100], 4)
    [1, 2, 4]
    >>> wave_sizes([1, 100], 3)
    [1, 3]
    """
    # round() first so 0.1-style float error in pct/100*n cannot add a node
    return [math.ceil(round(w / 100 * n_nodes, 9)) for w in waves]


def ordered_nodes(rollout_id: str, node_ids: Sequence[str]) -> list[str]:
    """Node ids in the rollout's order: sorted by sha256(rollout_id + node_id)."""
    return sorted(node_ids, key=lambda n: hashlib.sha256((rollout_id + n).encode()).hexdigest())


def members(session: Session, rollout: Rollout, up_to_wave: int | None = None) -> list[str]:
    """Node ids in waves 0..up_to_wave (default: the current wave) of ``rollout``."""
    wave = rollout.current_wave if up_to_wave is None else up_to_wave
    node_ids = list(session.scalars(select(Node.id)))
    size = wave_sizes(rollout.waves, len(node_ids))[wave]
    return ordered_nodes(rollout.id, node_ids)[:size]


def in_progress(session: Session) -> Rollout | None:
    """The rollout in progress, if any."""
    return session.scalar(select(Rollout).where(Rollout.state == IN_PROGRESS))


def last_completed(session: Session) -> Rollout | None:
    """The most recent completed rollout, if any."""
    return session.scalar(
        select(Rollout).where(Rollout.state == COMPLETED).order_by(Rollout.seq.desc()).limit(1)
    )


def create(
    session: Session, version: str, waves: Sequence[float], soak_heartbeats: int, now: float
) -> Rollout:
    """Start a rollout of ``version`` (RolloutError 409 if one runs, 404 if no such bundle)."""
    clean = validate_waves(waves)
    if soak_heartbeats < 1:
        raise RolloutError("soak_heartbeats must be at least 1.", 422)
    if session.get(Bundle, version) is None:
        raise RolloutError(
            f"No bundle with version {version!r} in the registry; upload it first "
            "(POST /v1/bundles).",
            404,
        )
    running = in_progress(session)
    if running is not None:
        raise RolloutError(
            f"Rollout {running.id} of {running.version} is still in progress; wait for it to "
            "complete or roll back before starting another.",
            409,
        )
    previous = last_completed(session)
    seq = (session.scalar(select(func.max(Rollout.seq))) or 0) + 1
    rollout = Rollout(
        id=f"rollout-{seq}-{secrets.token_hex(3)}",
        seq=seq,
        version=version,
        waves=clean,
        current_wave=0,
        state=IN_PROGRESS,
        soak_heartbeats=soak_heartbeats,
        created=now,
        previous_version=previous.version if previous else None,
    )
    session.add(rollout)
    session.flush()
    _log_wave_start(session, rollout, now)
    return rollout


def events_of(session: Session, rollout_id: str) -> list[RolloutEvent]:
    """The history of a rollout, oldest first."""
    return list(
        session.scalars(
            select(RolloutEvent)
            .where(RolloutEvent.rollout_id == rollout_id)
            .order_by(RolloutEvent.id)
        )
    )


def assignment_for(session: Session, node: Node) -> Assignment:
    """The version ``node`` should run now.

    In a rollout: its target for nodes in waves <= current, otherwise the previous
    version. Without one: the version of the last completed rollout (None if none).
    """
    rollout = in_progress(session)
    if rollout is not None:
        if node.id in members(session, rollout):
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
    """Let a node's heartbeat move the rollout in progress: count, advance, complete, roll back.

    ``bundle_error`` is ``(version, reason)`` when the node refused a bundle.
    """
    rollout = in_progress(session)
    if rollout is None:
        return
    if bundle_error is not None and bundle_error[0] == rollout.version:
        rollout.state = ROLLED_BACK
        _log(
            session,
            rollout,
            now,
            f"rolled back: {node.name} refused {rollout.version}: {bundle_error[1]}",
        )
        return
    if active_version == rollout.version:
        progress = session.get(RolloutProgress, (rollout.id, node.id))
        if progress is None:
            progress = RolloutProgress(rollout_id=rollout.id, node_id=node.id, healthy_heartbeats=0)
            session.add(progress)
        progress.healthy_heartbeats += 1
        session.flush()
    _advance(session, rollout, now)


def _advance(session: Session, rollout: Rollout, now: float) -> None:
    # Loops because consecutive waves can hold the same nodes (e.g. 2 nodes, [25, 50, 100]).
    while _soaked(session, rollout):
        if rollout.current_wave == len(rollout.waves) - 1:
            rollout.state = COMPLETED
            _log(session, rollout, now, "completed")
            return
        rollout.current_wave += 1
        _log_wave_start(session, rollout, now)


def _soaked(session: Session, rollout: Rollout) -> bool:
    wanted = members(session, rollout)
    if not wanted:
        return False
    rows = session.execute(
        select(RolloutProgress.node_id, RolloutProgress.healthy_heartbeats).where(
            RolloutProgress.rollout_id == rollout.id
        )
    )
    healthy = {node_id: count for node_id, count in rows}
    return all(healthy.get(n, 0) >= rollout.soak_heartbeats for n in wanted)


def _assignment(session: Session, version: str | None, rollout_id: str) -> Assignment:
    bundle = session.get(Bundle, version) if version is not None else None
    return Assignment(version, bundle.sha256 if bundle else None, rollout_id)


def _log_wave_start(session: Session, rollout: Rollout, now: float) -> None:
    n = len(members(session, rollout))
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
