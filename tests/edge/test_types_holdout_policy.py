"""Request validation, deterministic holdout, Thompson sampling and its logged propensities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgemark.edge._holdout import holdout_unit, in_holdout
from edgemark.edge._policy import ThompsonPolicy
from edgemark.edge._types import Decision, DecisionRequest
from edgemark.errors import EdgeError


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"ts": 1.0}, "'user'"),
        ({"user": "", "ts": 1.0}, "'user'"),
        ({"user": "a", "ts": math.nan}, "finite"),
        ({"user": "a", "ts": "yesterday"}, "'ts' must be a number"),
        ({"user": "a", "ts": 1.0, "consent_measurement": "yes"}, "true or false"),
        ({"user": "a", "ts": 1.0, "colour": "red"}, "unknown field"),
        ({"user": "a", "ts": 1.0, "context": []}, "'context'"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(raw: dict[str, object], message: str) -> None:
    with pytest.raises(EdgeError, match=message):
        DecisionRequest.from_dict(raw)


def test_request_and_decision_round_trip() -> None:
    request = DecisionRequest("cust-1", 12.5, consent_measurement=False, context={"k": 1})
    decision = Decision("d1", None, 0.2, "exp", "holdout", ("holdout",), "v1", 12.0, None)
    assert DecisionRequest.from_dict(request.to_dict()) == request
    assert Decision.from_dict(decision.to_dict()) == decision


def test_holdout_share_and_determinism() -> None:
    users = [f"u_{i:08x}" for i in range(40_000)]
    share = np.mean([in_holdout("salt", u, 0.2) for u in users])
    assert abs(share - 0.2) < 0.01  # 5 standard errors
    assert [in_holdout("salt", u, 0.2) for u in users[:500]] == [
        in_holdout("salt", u, 0.2) for u in users[:500]
    ]
    # Another salt re-randomises the users.
    other = np.array([holdout_unit("other", u) < 0.2 for u in users])
    first = np.array([holdout_unit("salt", u) < 0.2 for u in users])
    assert abs(np.mean(other & first) - 0.04) < 0.006


def test_thompson_converges_to_the_best_arm() -> None:
    rates = np.array([0.04, 0.08, 0.16])
    policy = ThompsonPolicy(("a", "b", "c"), 1.0, 1.0, np.random.default_rng(1))
    world = np.random.default_rng(2)
    chosen = []
    for _ in range(6000):
        index, _probability = policy.choose()
        policy.record_exposure(index)
        if world.random() < rates[index]:
            policy.record_conversion(index)
        chosen.append(index)
    assert np.mean(np.array(chosen[-1000:]) == 2) > 0.85
    assert policy.probabilities()[2] > 0.85
    estimated = policy.conversions[2] / policy.exposures[2]
    assert abs(estimated - 0.16) < 0.03


def test_logged_probability_is_the_probability_of_the_choice() -> None:
    policy = ThompsonPolicy(("a", "b", "c"), 1.0, 1.0, np.random.default_rng(3))
    policy.load_counts({"a": (40, 4), "b": (40, 6), "c": (40, 5)})
    n = 30_000
    picks = [policy.choose() for _ in range(n)]
    arms = np.array([i for i, _ in picks])
    probs = np.array([p for _, p in picks])
    for arm in range(3):
        # IPS estimate of "always play arm" of a constant reward 1 must be ~1.
        ips = np.mean((arms == arm) / probs)
        assert abs(ips - 1.0) < 0.05
    assert abs(probs[arms == 1][0] - np.mean(arms == 1)) < 0.015


def test_policy_refuses_an_empty_offer_list() -> None:
    with pytest.raises(EdgeError, match="at least one offer"):
        ThompsonPolicy((), 1.0, 1.0, np.random.default_rng(0))
