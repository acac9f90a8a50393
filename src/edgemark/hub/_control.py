"""Manual control of a rollout: pause, resume and abort (each audited, row-locked)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from edgemark.errors import RolloutError
from edgemark.hub._db import Rollout
from edgemark.hub._rollouts import (
    ABORTED,
    ACTIVE,
    IN_PROGRESS,
    PAUSED,
    evaluate,
    finish,
    get,
)


def pause(session: Session, rollout_id: str, now: float, actor: str, reason: str = "") -> Rollout:
    """Stop advancing (gates still roll back); RolloutError 409 unless in progress."""
    rollout = _in_state(session, rollout_id, (IN_PROGRESS,), "pause")
    return _transition(session, rollout, PAUSED, now, actor, "paused", reason)


def resume(session: Session, rollout_id: str, now: float, actor: str, reason: str = "") -> Rollout:
    """Advance again from where it paused; RolloutError 409 unless paused."""
    rollout = _in_state(session, rollout_id, (PAUSED,), "resume")
    _transition(session, rollout, IN_PROGRESS, now, actor, "resumed", reason)
    evaluate(session, rollout, now)
    return rollout


def abort(session: Session, rollout_id: str, now: float, actor: str, reason: str = "") -> Rollout:
    """Stop the rollout; every node goes back to the previous version."""
    rollout = _in_state(session, rollout_id, ACTIVE, "abort")
    return _transition(session, rollout, ABORTED, now, actor, "aborted", reason)


def _in_state(session: Session, rollout_id: str, states: Sequence[str], verb: str) -> Rollout:
    rollout = get(session, rollout_id)
    session.refresh(rollout, with_for_update=True)
    if rollout.state not in states:
        raise RolloutError(
            f"Cannot {verb} rollout {rollout_id}: it is {rollout.state} "
            f"(only a rollout that is {' or '.join(states)} can be {verb}d).",
            409,
        )
    return rollout


def _transition(
    session: Session, rollout: Rollout, state: str, now: float, actor: str, what: str, reason: str
) -> Rollout:
    text = f"{what} by {actor}" + (f": {reason}" if reason else "")
    finish(session, rollout, state, now, text, actor, action=f"rollout.{what}")
    return rollout
