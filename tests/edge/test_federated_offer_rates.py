"""A node's answer to an offer_rates task: conversion rates per arm from randomised traffic
of training-consented users only, clipped and noised, K floats and nothing else."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.edge._federated import FederatedLearner, federated_step, randomised_outcomes
from edgemark.edge._settings import parse_policy
from edgemark.edge._state import Changes, StateStore

T0 = 20_460 * 86400.0
HOUR = 3600.0
ALL, NO_TRAINING = 7, 3  # consent bits: personalization 1, measurement 2, training 4
ARMS = ["none", "pct10", "bogo", "freeship"]
POLICY = {"experiment": "exp", "salt": "s", "holdout_share": 0.2, "lookback_hours": 24.0,
          "epsilon_per_report": 1.0, "max_contributions_per_user": 1, "revenue_cap": 100.0,
          "prior_alpha": 1.0, "prior_beta": 1.0}  # fmt: skip
OFFERS = [{"id": "pct10", "discount": 0.1}, {"id": "bogo", "discount": 0.25}]

# (user, hours after T0, experiment, layer, arm, offer shown, converted, consent of the
# user's events (None: no event journaled)).
DECISIONS: list[tuple[str, float, str, str, str, str | None, bool, int | None]] = [
    ("h1", 1, "exp", "holdout", "holdout", None, True, ALL),  # counts: none, converted
    ("h2", 2, "exp", "holdout", "holdout", None, False, ALL),  # counts: none
    ("h4", 3, "exp", "holdout", "holdout", None, False, ALL),  # counts: none
    ("h3", 4, "exp", "holdout", "holdout", None, True, NO_TRAINING),  # no training consent
    ("e1", 5, "exp", "explore", "pct10", "pct10", True, ALL),  # counts: pct10, converted
    ("e2", 6, "exp", "explore", "pct10", "pct10", False, ALL),  # counts: pct10
    ("e3", 7, "exp", "explore", "bogo", "bogo", True, ALL),  # counts: bogo, converted
    ("e4", 8, "exp", "explore", "bogo", None, True, ALL),  # drawn offer blocked
    ("p1", 9, "exp", "policy", "pct10", "pct10", True, ALL),  # targeted, not randomised
    ("l1", 10, "exp", "legacy", "pct10", "pct10", True, ALL),  # layer unknown
    ("o1", 11, "other", "holdout", "holdout", None, True, ALL),  # another experiment
    ("n1", 12, "exp", "holdout", "holdout", None, True, None),  # no journaled event
    ("r1", 40, "exp", "holdout", "holdout", None, False, ALL),  # outcome not final yet
]
WATERMARK_H = 50.0  # the latest record: decisions before hour 26 are final (24 h lookback)
EXPECTED = {"none": (3, 1), "pct10": (2, 1), "bogo": (1, 1)}  # exposures, conversions


def build_state(state_dir: Path) -> None:
    store = StateStore(state_dir / "edge.db")
    changes = Changes()
    for k, (user, hours, experiment, layer, arm, offer, converted, consent) in enumerate(DECISIONS):
        ts = T0 + hours * HOUR
        decision_id = f"d{k}"
        changes.decisions.append((decision_id, user, ts, int(ts // 86400), experiment, arm,
                                  offer, 0.1, "v1", 1, layer, "", None, 1))  # fmt: skip
        if converted:
            changes.conversions.append((decision_id, ts + 60.0, 20.0))
        if consent is not None:
            changes.events.append((f"ev{k}", user, ts + 30.0, "view", None, None, "grocery",
                                   None, "store", consent))  # fmt: skip
    # A user who withdrew training consent after their decision: their latest event rules.
    changes.decisions.append(("dw", "w1", T0 + HOUR, 0, "exp", "holdout", None, 0.1, "v1", 1,
                              "holdout", "", None, 1))  # fmt: skip
    changes.events.append(("evw1", "w1", T0 + 2 * HOUR, "view", None, None, None, None, None,
                           ALL))  # fmt: skip
    changes.events.append(("evw2", "w1", T0 + 3 * HOUR, "view", None, None, None, None, None,
                           NO_TRAINING))  # fmt: skip
    changes.events.append(("late", "zz", T0 + WATERMARK_H * HOUR, "view", None, None, None,
                           None, None, ALL))  # fmt: skip
    store.write(changes)
    store.set_meta("policy:exp", parse_policy(POLICY, OFFERS).to_json())
    store.close()


def task(**settings: Any) -> dict[str, Any]:
    base = {"kind": "offer_rates", "clip_norm": 10.0, "noise_std": 0.0, "offers": ARMS,
            "experiment": "exp"}  # fmt: skip
    return {"task_id": 7, "run_id": "p", "round": 1, "params": [0.0] * 4,
            "settings": {**base, **settings}}  # fmt: skip


def test_only_randomised_final_training_consented_decisions_count(tmp_path: Path) -> None:
    build_state(tmp_path)
    learner = FederatedLearner(tmp_path)
    learner.track_consent()
    # The journal forgets events after a few days; the learner remembers who consented.
    db = sqlite3.connect(tmp_path / "edge.db")
    db.execute("DELETE FROM events WHERE key != 'late'")
    db.commit()
    db.close()
    learner.track_consent()
    consenting = learner.training_users()

    exposures, conversions = randomised_outcomes(tmp_path / "edge.db", ARMS, consenting, "exp")

    assert "h3" not in consenting and "w1" not in consenting and "n1" not in consenting
    assert {a: (exposures[a], conversions[a]) for a in exposures} == EXPECTED
    # Without a named experiment the node uses that of its latest decision ("exp").
    assert randomised_outcomes(tmp_path / "edge.db", ARMS, consenting) == (exposures, conversions)
    assert randomised_outcomes(tmp_path / "missing.db", ARMS, consenting) == ({}, {})
    # A restarted node knows only the consent still in the journal (here: nobody's).
    fresh = FederatedLearner(tmp_path)
    fresh.track_consent()
    assert randomised_outcomes(tmp_path / "edge.db", ARMS, fresh.training_users()) == ({}, {})


def test_the_answer_is_k_rates_clipped_to_the_task_norm_plus_the_node_share_of_noise(
    tmp_path: Path,
) -> None:
    build_state(tmp_path)
    learner = FederatedLearner(tmp_path)

    exact = learner.offer_rates_for(task())
    clipped = np.array(learner.offer_rates_for(task(clip_norm=0.5)))
    noisy = np.array(learner.offer_rates_for(task(clip_norm=0.5, noise_std=1.0)))

    # 1/3 of the holdout converted, 1/2 of pct10, 1/1 of bogo; freeship was never shown
    # at this node, so it sends the uninformative 0.5.
    assert exact == pytest.approx([1 / 3, 1 / 2, 1.0, 0.5])
    assert len(exact) == 4 and all(isinstance(v, float) for v in exact)
    assert np.linalg.norm(clipped) == pytest.approx(0.5)
    assert clipped / 0.5 == pytest.approx(np.array(exact) / np.linalg.norm(exact))
    assert np.linalg.norm(noisy - clipped) > 0.3  # N(0, 1) on 4 values: P(< 0.3) ~ 1e-4
    # With a public centre in params, the node sends its difference from it.
    centred = learner.offer_rates_for({**task(clip_norm=0.2), "params": [0.3, 0.5, 0.9, 0.2]})
    # freeship, never shown here, sends the centre itself: a zero difference that does
    # not pull the fleet's rate (without a centre it sent 0.5, above).
    assert centred == pytest.approx([1 / 3 - 0.3, 0.0, 0.1, 0.0])


class FakeHub:
    """The two calls federated_step makes, recorded."""

    def __init__(self, answer: dict[str, Any] | None) -> None:
        self.answer = answer
        self.posted: list[dict[str, Any]] = []

    def _json(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        if method == "GET":
            return {"task": self.answer}
        self.posted.append({"path": path, **json})
        return {"stored": True}


def test_a_sync_answers_an_offer_rates_task_and_skips_an_unknown_kind(tmp_path: Path) -> None:
    build_state(tmp_path)
    learner = FederatedLearner(tmp_path)
    hub, errors = FakeHub(task()), []

    assert federated_step(learner, hub, errors) is True

    assert errors == []
    assert hub.posted == [
        {"path": "/v1/federated/updates", "task_id": 7, "update": pytest.approx([1 / 3, 0.5,
                                                                                 1.0, 0.5])}
    ]  # fmt: skip
    odd = FakeHub(task(kind="gradients"))
    assert federated_step(learner, odd, errors) is False
    assert odd.posted == [] and "unknown" in errors[0]
    broken = FakeHub({"task_id": 8, "settings": {"kind": "offer_rates"}})  # no offers
    assert federated_step(learner, broken, errors) is False and len(errors) == 2
