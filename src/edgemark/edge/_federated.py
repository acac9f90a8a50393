"""The node's side of federated learning: training rows from its own journal, and a
clipped, noised answer when the hub has an open federated task (a model update, or the
node's per-offer conversion rates for the fleet's offer-policy priors).

Only events that carry training consent are read. At each sync the learner folds the new
journal events into its own feature state, labels the snapshot it took at the previous
sync (did the user purchase since?), and snapshots every known user again. Rows stay in
this process; what leaves is ``client_update``'s vector (clipped to the task's norm, plus
the node's share of Gaussian noise) or, for an ``offer_rates`` task, K noised rates.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.edge._settings import PolicySettings
from edgemark.errors import EdgemarkError
from edgemark.features import DEFAULT_SPEC, FeatureSpec, OnlineFeatures
from edgemark.federated import DPFedAvgConfig, client_update, node_rates, noised_rates

log = logging.getLogger(__name__)
_TRAINING = 4  # consent bit of the journal (personalization 1, measurement 2, training 4)
_PERSONALIZATION = 1
# (pseudonym, ts, type, amount, category, consent bits) of one journal event.
JournalEvent = tuple[str, float, str, float | None, str | None, int]
# Randomised decisions (holdout: no offer; explore: the drawn offer, when it was shown)
# made by ``experiment`` up to a time, with their user and outcome.
_RANDOMISED = """
SELECT d.pseudonym, CASE WHEN d.layer = 'holdout' THEN 'none' ELSE d.offer END,
       c.decision_id IS NOT NULL
FROM decisions d LEFT JOIN conversions c ON c.decision_id = d.id
WHERE d.experiment = ? AND d.ts <= ?
  AND (d.layer = 'holdout' OR (d.layer = 'explore' AND d.offer = d.arm))
"""


class FederatedLearner:
    """Builds (features, purchased-since) rows from ``state_dir/edge.db`` and trains on them."""

    def __init__(
        self, state_dir: Path, max_rows: int = 200_000, spec: FeatureSpec = DEFAULT_SPEC
    ) -> None:
        self._db_path = Path(state_dir) / "edge.db"
        self._spec = spec
        self._features = OnlineFeatures(spec)
        self._watermark = 0.0
        self._pending: tuple[float, list[str], np.ndarray] | None = None
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._max_rows = max_rows
        # Each user's latest consent bits seen in the journal: (ts, training consent).
        # Kept here because the journal forgets events after a few days and decisions carry
        # no training consent; rebuilt from the journal after a restart.
        self._consent: dict[str, tuple[float, bool]] = {}
        self._consent_mark = 0  # the journal's last rowid read for consent

    @property
    def rows(self) -> int:
        """Labelled training rows held by the node."""
        return int(sum(len(y) for y in self._y))

    def ingest(self, events: Sequence[JournalEvent] | None = None) -> None:
        """Fold new training-consented journal events in, label and re-snapshot.

        ``events`` (in time order) replaces the journal read, for a learner that replays
        the journal in steps (the Flower ClientApp's catch-up)."""
        if events is None:
            events = self.journal_events()
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

    def offer_rates_for(self, task: dict[str, Any]) -> list[float]:
        """This node's answer to an ``offer_rates`` task: its conversion rate per arm of
        ``settings.offers`` from randomised traffic of training-consented users
        (``randomised_outcomes``; for an arm it has no exposure of, the centre when there is
        one, else 0.5) minus the task's
        ``params`` (a public centre, one per arm), clipped to the task's L2 norm, plus its
        share ``noise_std`` of the Gaussian noise: K floats."""
        s = task["settings"]
        offers = [str(o) for o in s["offers"]]
        self.track_consent()
        exposures, conversions = randomised_outcomes(
            self._db_path, offers, self.training_users(), s.get("experiment")
        )
        center = np.asarray(task["params"], dtype=np.float64)  # public: the task's centre
        rates = node_rates(exposures, conversions, offers, center=center)
        sent = noised_rates(rates, float(s["clip_norm"]), float(s["noise_std"]), center)
        return [float(v) for v in sent]

    def track_consent(self) -> None:
        """Note every new journal event's training consent (the latest per user rules)."""
        if not self._db_path.exists():
            return
        db = sqlite3.connect(f"file:{self._db_path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT rowid, pseudonym, ts, consent FROM events WHERE rowid > ? ORDER BY rowid",
                (self._consent_mark,),
            ).fetchall()
        finally:
            db.close()
        for rowid, user, ts, consent in rows:
            known = self._consent.get(user)
            if known is None or ts >= known[0]:  # an event that arrives late does not rule
                self._consent[str(user)] = (float(ts), bool(int(consent) & _TRAINING))
            self._consent_mark = max(self._consent_mark, int(rowid))

    def training_users(self) -> frozenset[str]:
        """Users whose latest journaled event carries training consent."""
        return frozenset(u for u, (_ts, training) in self._consent.items() if training)

    def training_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The labelled rows held so far (``x`` by the spec's features, ``y`` 0/1)."""
        if not self._y:
            return np.zeros((0, len(self._spec.names))), np.zeros(0)
        return np.concatenate(self._x), np.concatenate(self._y)

    def forget(self, pseudonym: str) -> None:
        """Erase a user: their feature state, consent and unlabelled snapshot row go.

        Rows already labelled carry no user and cannot be told apart; they age out with
        ``max_rows`` and end with the process (the learner keeps nothing on disk)."""
        self._features.forget(pseudonym)
        self._consent.pop(pseudonym, None)
        if self._pending is not None and pseudonym in self._pending[1]:
            now, users, x = self._pending
            keep = [k for k, u in enumerate(users) if u != pseudonym]
            self._pending = (now, [users[k] for k in keep], x[keep])

    def journal_events(self) -> list[JournalEvent]:
        """Training-consented journal events after the learner's watermark, in time order."""
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
        learner.track_consent()  # every sync: the journal forgets events after a few days
        task = client._json("GET", "/v1/federated/task").get("task")
        if not task:
            return False
        kind = task["settings"].get("kind", "model")
        if kind not in _ANSWERS:
            errors.append(f"federated: task kind {kind!r} is unknown to this node; upgrade it")
            return False
        update = _ANSWERS[kind](learner, task)
        client._json("POST", "/v1/federated/updates",
                     json={"task_id": task["task_id"], "update": update})  # fmt: skip
        return True
    except (EdgemarkError, sqlite3.Error, KeyError, TypeError, ValueError) as exc:
        errors.append(f"federated: {exc}")
        log.warning("federated step failed: %s", exc)
        return False


def randomised_outcomes(
    db_path: Path, offers: list[str], consenting: Container[str], experiment: str | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """(exposures, conversions) per arm of ``offers`` ("none" and offer ids) on randomised
    traffic of ``experiment`` (default: that of the node's latest decision) by users in
    ``consenting``.

    Which decisions count, and why:

    - Only randomised ones, so a rate measures the arm and not whom the policy targets:
      the holdout layer (arm "none": never shown an offer) and the explore layer, which
      draws one of the bundle's offers uniformly (never "none"); an explore decision whose
      drawn offer a guardrail blocked is left out (the user did not get the drawn arm, and
      being blocked depends on the user's own history). The policy layer never counts.
    - Only users with training consent (``consenting``: the learner passes the users whose
      latest journaled event carries the training bit). Decisions carry measurement consent
      alone, so the journal decides, and the latest event is the user's current choice: a
      withdrawal holds for the next release. A user never seen in the journal is left out.
    - Only decisions whose outcome is final: made at least one lookback window (the longest
      of the experiment's arms) before the node's latest record. A recent decision may still
      convert, and counting it as "no purchase" would pull every rate down; the cut depends
      on time alone, never on the outcome.

    A conversion is the node's own attribution: a ``conversions`` row of the decision.
    """
    if not db_path.exists():
        return {}, {}
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        if experiment is None:
            latest = db.execute("SELECT experiment FROM decisions ORDER BY ts DESC LIMIT 1")
            row = latest.fetchone()
            if row is None:
                return {}, {}
            experiment = str(row[0])
        cutoff = _watermark(db) - _lookback_s(db, experiment, offers)
        rows = db.execute(_RANDOMISED, (experiment, cutoff)).fetchall()
    finally:
        db.close()
    wanted = set(offers)
    exposures: dict[str, int] = {}
    conversions: dict[str, int] = {}
    for user, arm, converted in rows:
        if arm in wanted and user in consenting:
            exposures[arm] = exposures.get(arm, 0) + 1
            conversions[arm] = conversions.get(arm, 0) + int(converted)
    return exposures, conversions


def _watermark(db: sqlite3.Connection) -> float:
    row = db.execute(
        "SELECT max(coalesce((SELECT max(ts) FROM decisions), 0),"
        " coalesce((SELECT max(ts) FROM events), 0))"
    ).fetchone()
    return float(row[0] or 0.0)


def _lookback_s(db: sqlite3.Connection, experiment: str, offers: list[str]) -> float:
    """The longest lookback of the experiment's arms (inf when its policy is not stored)."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (f"policy:{experiment}",))
    found = row.fetchone()
    if found is None:
        return float("inf")
    settings = PolicySettings.from_json(str(found[0]))
    return max(settings.lookback_s(arm) for arm in ("holdout", *offers, *settings.offers))


# What a node computes for each kind of federated task (settings "kind"; absent: "model").
_ANSWERS = {"model": FederatedLearner.update_for, "offer_rates": FederatedLearner.offer_rates_for}
