"""The node's side of federated learning: training rows from its own journal, and a
clipped, noised model update when the hub has an open federated task.

Only events that carry training consent are read. At each sync the learner folds the new
journal events into its own feature state, labels the snapshot it took at the previous
sync (did the user purchase since?), and snapshots every known user again. Rows stay in
this process; what leaves is ``client_update``'s vector (clipped to the task's norm, plus
the node's share of Gaussian noise).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.errors import EdgemarkError
from edgemark.features import DEFAULT_SPEC, OnlineFeatures
from edgemark.federated import DPFedAvgConfig, client_update

log = logging.getLogger(__name__)
_TRAINING = 4  # consent bit of the journal (personalization 1, measurement 2, training 4)
_PERSONALIZATION = 1


class FederatedLearner:
    """Builds (features, purchased-since) rows from ``state_dir/edge.db`` and trains on them."""

    def __init__(self, state_dir: Path, max_rows: int = 200_000) -> None:
        self._db_path = Path(state_dir) / "edge.db"
        self._features = OnlineFeatures(DEFAULT_SPEC)
        self._watermark = 0.0
        self._pending: tuple[float, list[str], np.ndarray] | None = None
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._max_rows = max_rows

    @property
    def rows(self) -> int:
        """Labelled training rows held by the node."""
        return int(sum(len(y) for y in self._y))

    def ingest(self) -> None:
        """Fold new training-consented journal events in, label and re-snapshot."""
        events = self._read_events()
        bought: set[str] = set()
        for user, ts, kind, amount, category, consent in events:
            self._features.update(user, kind, ts, amount, category,
                                  personalization=bool(consent & _PERSONALIZATION))  # fmt: skip
            if kind == "purchase":
                bought.add(user)
            self._watermark = max(self._watermark, ts)
        if not events:
            return
        if self._pending is not None:
            _, users, x = self._pending
            self._x.append(x)
            self._y.append(np.array([1.0 if u in bought else 0.0 for u in users]))
            self._trim()
        users = sorted(self._features.users())
        now = self._watermark
        x = np.array([self._features.vector(u, now) for u in users]).reshape(len(users), -1)
        self._pending = (now, users, x)

    def update_for(self, task: dict[str, Any]) -> list[float]:
        """This node's clipped, noised update for ``task`` (noise only when it has no rows)."""
        params = np.asarray(task["params"], dtype=np.float64)
        s = task["settings"]
        cfg = DPFedAvgConfig(
            clip_norm=float(s["clip_norm"]),
            local_epochs=int(s["local_epochs"]),
            local_lr=float(s["local_lr"]),
            batch_size=int(s["batch_size"]),
            features=None if s.get("features") is None else tuple(s["features"]),
        )
        noise = float(s["noise_std"])
        if self.rows == 0:  # no rows yet: take part with noise only
            update = np.zeros_like(params)
            active = cfg.active(len(params))
            update[active] = np.random.default_rng().normal(0.0, noise, active.shape)
            return [float(v) for v in update]
        x, y = self.training_rows()
        return [float(v) for v in client_update(params, x, y, cfg, noise_std=noise)]

    def training_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The labelled rows held so far (``x`` by the default spec's features, ``y`` 0/1)."""
        if not self._y:
            width = len(DEFAULT_SPEC.names)
            return np.zeros((0, width)), np.zeros(0)
        return np.concatenate(self._x), np.concatenate(self._y)

    def _read_events(self) -> list[tuple[str, float, str, float | None, str | None, int]]:
        if not self._db_path.exists():
            return []
        db = sqlite3.connect(f"file:{self._db_path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT pseudonym, ts, type, amount, category, consent FROM events"
                " WHERE ts > ? AND (consent & ?) != 0 ORDER BY ts",
                (self._watermark, _TRAINING),
            ).fetchall()
        finally:
            db.close()
        return [(str(u), float(t), str(k), a, c, int(b)) for u, t, k, a, c, b in rows]

    def _trim(self) -> None:
        while self.rows > self._max_rows and len(self._y) > 1:
            self._x.pop(0)
            self._y.pop(0)


def federated_step(learner: FederatedLearner, client: Any, errors: list[str]) -> bool:
    """One sync's federated work: learn from the journal, answer an open task. True if an
    update was sent."""
    try:
        learner.ingest()
        task = client._json("GET", "/v1/federated/task").get("task")
        if not task:
            return False
        update = learner.update_for(task)
        client._json("POST", "/v1/federated/updates",
                     json={"task_id": task["task_id"], "update": update})  # fmt: skip
        return True
    except (EdgemarkError, sqlite3.Error) as exc:
        errors.append(f"federated: {exc}")
        log.warning("federated step failed: %s", exc)
        return False
