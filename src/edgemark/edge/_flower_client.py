"""The node's Flower ClientApp for deployment mode: trains on the node's own journal
(``state-dir/edge.db``, only events with training consent) through ``FederatedLearner``,
and answers an offer-rates task with the learner's K clipped, noised per-arm rates.

Start the SuperNode with ``--node-config "state-dir='/var/lib/edgemark/node'
node-name='store-0042'"``; ``node-name`` (the hub enrolment name) is what the ServerApp
charges in the privacy ledger. Entry point ``edgemark.edge._flower_client:client_app``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message

from edgemark.edge._federated import FederatedLearner, JournalEvent
from edgemark.errors import ConfigError
from edgemark.federated._flower_client import Rows, make_client_app

# When a learner starts, it replays the journal one day at a time, as if the node had
# synced daily: each day's snapshot is labelled by the next day's purchases.
REPLAY_STEP_S = 86400.0


def caught_up(learner: FederatedLearner) -> FederatedLearner:
    """``learner`` after folding in the whole journal so far, one replay step at a time.

    Flower starts a fresh ClientApp process for each message, so a learner rarely lives
    for two rounds; replaying the journal day by day gives it the labelled rows a node
    that had synced all along would hold (within the journal's retention).
    """
    days: dict[int, list[JournalEvent]] = {}
    for event in learner.journal_events():
        days.setdefault(math.floor(event[1] / REPLAY_STEP_S), []).append(event)
    for day in sorted(days):
        learner.ingest(days[day])
    return learner


_LEARNERS: dict[Path, FederatedLearner] = {}


def learner_for(state_dir: Path) -> FederatedLearner:
    """The process's learner over ``state_dir`` (one per directory, caught up at start)."""
    key = state_dir.resolve()
    if key not in _LEARNERS:
        if not (key / "edge.db").is_file():
            raise ConfigError(
                f"no edgemark node state in {state_dir} (edge.db is missing): set state-dir "
                "in the SuperNode's --node-config to the node's state directory"
            )
        _LEARNERS[key] = caught_up(FederatedLearner(key))
    return _LEARNERS[key]


def _learner(context: Context) -> FederatedLearner:
    state_dir = context.node_config.get("state-dir")
    if not state_dir:
        raise ConfigError(
            "this SuperNode has no state-dir: start it with --node-config "
            "\"state-dir='/var/lib/edgemark/node' node-name='<its hub enrolment name>'\""
        )
    return learner_for(Path(str(state_dir)))


def journal_rows(message: Message, context: Context) -> Rows:
    """The node's labelled rows, after folding in the journal's new events."""
    learner = _learner(context)
    learner.ingest()
    x, y = learner.training_rows()
    return _floats(x), _floats(y)


def journal_rates(message: Message, context: Context, task: dict[str, Any]) -> list[float]:
    """The node's answer to an offer-rates task (in the hub task API's shape): its rates
    per arm from randomised, final decisions of training-consented users, minus the
    task's centre, clipped and noised (``FederatedLearner.offer_rates_for``)."""
    return _learner(context).offer_rates_for(task)


def _floats(a: Any) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(a, dtype=np.float64)


client_app = make_client_app(journal_rows, journal_rates)
