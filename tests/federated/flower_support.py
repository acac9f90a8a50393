"""Flower apps without Flower processes: the task identity a Flower process sets before
an app runs, a Grid stand-in that hands each message to a ClientApp in this process, and
a node's journal written by its own edge Runtime (for the edge's ClientApp)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def task_identity(run_id: int = 1) -> Iterator[None]:
    """Messages read their run id from the task identity; set it as a Flower process does."""
    from flwr.supercore.task_identity import TaskIdentity

    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = 1, run_id, 0
    try:
        yield
    finally:
        TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


class AppGrid:
    """Delivers every message to ``app`` as node ``node_id`` with that node's config; an
    exception in the app becomes an error reply, as Flower's ClientApp runner makes it."""

    def __init__(self, app: Any, node_configs: dict[int, dict[str, Any]], run_id: int = 1):
        self.app, self.node_configs, self.run_id = app, node_configs, run_id
        self.sent: list[Any] = []
        self.replies: list[Any] = []

    def get_node_ids(self) -> Iterable[int]:
        return list(self.node_configs)

    def send_and_receive(self, messages: Iterable[Any], **_: Any) -> list[Any]:
        import flwr.app

        out = []
        for message in messages:
            self.sent.append(message)
            node = message.metadata.dst_node_id
            ctx = flwr.app.Context(self.run_id, node, self.node_configs[node],
                                   flwr.app.RecordDict(), {})  # fmt: skip
            try:
                reply = self.app(message, ctx)
            except Exception as exc:
                reply = flwr.app.Message(flwr.app.Error(0, str(exc)), reply_to=message)
            out.append(reply)
        self.replies.extend(out)
        return out


def context(run_config: dict[str, Any], run_id: int = 1) -> Any:
    """The ServerApp's context of run ``run_id`` with ``run_config``."""
    import flwr.app

    return flwr.app.Context(run_id, 0, {}, flwr.app.RecordDict(), run_config)


DAY = 86400.0
T0 = 20_460 * DAY  # 2026-01-05 00:00 UTC


def node_journal(state_dir: Path, days: range, training: bool, users: int = 40) -> int:
    """A node's journal written by its own Runtime: each day every user views, and user u
    buys on day d when (u + d) % 3 == 0; ``training`` is the users' training consent.
    Returns the number of events."""
    from edgemark.edge import Runtime
    from edgemark.events import Event

    consent = {"consent_personalization": True, "consent_measurement": True,
               "consent_training": training}  # fmt: skip
    events = []
    for d in days:
        for u in range(users):
            ts = T0 + d * DAY + u * 60.0
            events.append(Event(f"v{d}-{u}", ts, f"c{u}", "view", "store", **consent))
            if (u + d) % 3 == 0:
                events.append(Event(f"p{d}-{u}", ts + 30, f"c{u}", "purchase", "store",
                                    amount=10.0, **consent))  # fmt: skip
    runtime = Runtime(state_dir, state_dir.name, trust=None, maintenance_interval_s=None,
                      event_retention_days=30)  # fmt: skip
    accepted = runtime.observe_many(events).accepted
    runtime.close()
    assert accepted == len(events)
    return accepted
