"""Guardrails from the bundle policy (each in the decision's reasons) and layered experiments
(independent assignment per salt, a holdout per experiment, rows per experiment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.bundle import TrustStore
from edgemark.edge import DecisionRequest, Runtime
from edgemark.edge._holdout import holdout_unit
from edgemark.errors import BundleError
from edgemark.events import Pseudonymizer
from edgemark.privacy import PrivacyBudget
from tests.edge.edge_support import DAY, T0, BundleFactory

KEY = b"g" * 32
EXPLORE_ALL = {"holdout_share": 0.0, "explore_share": 1.0}


def _runtime(tmp_path: Path, trust: TrustStore, bundle: Path) -> Runtime:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY,
                      privacy_budget=PrivacyBudget(1e9))  # fmt: skip
    runtime.load(bundle)
    return runtime


def _guarded(make_bundle: BundleFactory, **offers: Any) -> Path:
    return make_bundle("v1", policy="uniform", holdout_share=0.0, explore_share=0.0,
                       guardrails={"offers": offers})  # fmt: skip


def test_frequency_cap_per_user_and_offer_over_a_window(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    caps = {"*": {"max_per_user": 0}, "pct10": {"max_per_user": 2, "window_hours": 24}}
    runtime = _runtime(tmp_path, trust, _guarded(make_bundle, **caps))
    shown = [runtime.decide(DecisionRequest("a", T0 + i * 600)).offer for i in range(5)]
    assert shown == ["pct10", "pct10", None, None, None]
    last = runtime.decide(DecisionRequest("a", T0 + 4 * 600))
    assert "guardrail:frequency_cap:pct10" in last.reasons and last.arm == "none"
    assert runtime.decide(DecisionRequest("a", T0 + 25 * 3600)).offer == "pct10"  # window over
    assert runtime.decide(DecisionRequest("b", T0)).offer == "pct10"  # per user


def test_daily_budget_per_node_and_offer(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust, _guarded(make_bundle, **{"*": {"daily_budget": 3}}))
    day0 = [runtime.decide(DecisionRequest(f"u{i}", T0 + i)) for i in range(20)]
    assert sum(d.offer is not None for d in day0) == 9  # 3 offers x 3 each
    assert "guardrail:daily_budget:bogo" in day0[-1].reasons
    assert runtime.decide(DecisionRequest("late", T0 + DAY)).offer is not None  # a new day
    runtime.close()
    restarted = _runtime(tmp_path, trust, _guarded(make_bundle, **{"*": {"daily_budget": 3}}))
    assert restarted.decide(DecisionRequest("x", T0 + 30)).offer is None  # counters survive


def test_rate_limit_consent_and_eligibility(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(
        "v1", policy="uniform", holdout_share=0.0, explore_share=0.0,
        guardrails={
            "rate_limit": {"max_decisions": 3, "window_seconds": 3600},
            "offers": {
                "pct10": {"requires_consent": ["personalization"]},
                "bogo": {"eligible": {"context": {"channel": ["app"]}}},
                "freeship": {"eligible": {"min_score": 2.0}},  # never: scores are <= 1
            },
        },
    )  # fmt: skip
    runtime = _runtime(tmp_path, trust, bundle)
    quiet = runtime.decide(DecisionRequest("q", T0, consent_personalization=False))
    assert quiet.offer is None
    assert {"guardrail:consent:pct10", "guardrail:eligibility:bogo",
            "guardrail:eligibility:freeship"} <= set(quiet.reasons)  # fmt: skip
    app = runtime.decide(DecisionRequest("q", T0 + 1, context={"channel": "app"}))
    assert app.offer in {"pct10", "bogo"} and app.probability == pytest.approx(0.5)
    runtime.decide(DecisionRequest("q", T0 + 2))
    limited = runtime.decide(DecisionRequest("q", T0 + 3, context={"channel": "app"}))
    assert limited.offer is None and "guardrail:rate_limit" in limited.reasons
    assert runtime.stats()["guardrails_blocked"]["rate_limit"] == 1


@pytest.mark.parametrize(
    ("guardrails", "message"),
    [
        ({"offers": {"nope": {}}}, "guardrails.offers"),
        ({"offers": {"pct10": {"max_per_user": -1}}}, "max_per_user"),
        ({"rate_limit": {"max_decisions": 0}}, "max_decisions"),
        ({"offers": {"bogo": {"requires_consent": ["training"]}}}, "requires_consent"),
        ({"colour": 1}, "guardrails"),
    ],
)
def test_bad_guardrails_are_refused_at_load(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory, guardrails: Any, message: str
) -> None:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY)
    with pytest.raises(BundleError, match=message):
        runtime.load(make_bundle("v1", guardrails=guardrails))


def test_concurrent_experiments_assign_independently_with_their_own_holdouts(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    layers = [
        {"name": "ship-campaign", "salt": "ship-1", "holdout_share": 0.5, "offers": ["freeship"]},
        {"name": "bogo-test", "salt": "bogo-1", "holdout_share": 0.3, "offers": ["bogo"]},
    ]
    runtime = _runtime(tmp_path, trust, make_bundle(
        "v1", epsilon_per_report=1e6, experiments=layers, **EXPLORE_ALL))  # fmt: skip
    n = 3000
    decisions = [runtime.decide(DecisionRequest(f"c{i}", T0 + i)) for i in range(n)]
    ship = np.array([dict(d.assignments)["ship-campaign"] == "holdout" for d in decisions])
    bogo = np.array([dict(d.assignments)["bogo-test"] == "holdout" for d in decisions])
    assert abs(ship.mean() - 0.5) < 0.04 and abs(bogo.mean() - 0.3) < 0.04
    assert abs((ship & bogo).mean() - 0.15) < 0.03  # independent salts
    pseudo = Pseudonymizer(KEY)
    assert all(ship[i] == (holdout_unit("ship-1", pseudo.pseudonym(f"c{i}")) < 0.5)
               for i in range(200))  # fmt: skip
    # A campaign's holdout never sees its offer; the arm stays assigned (intent to treat).
    held = [d for d, s in zip(decisions, ship, strict=True) if s and d.arm == "freeship"]
    assert held and all(d.offer is None for d in held)
    assert all("experiment:ship-campaign:holdout" in d.reasons for d in held)
    rows = runtime.reports(int(T0 // DAY) + 1)
    by = {(r["experiment"], r["arm"]): r["exposures"] for r in rows}
    assert by[("ship-campaign", "holdout")] + by[("ship-campaign", "treatment")] == n
    assert by[("bogo-test", "holdout")] == int(bogo.sum())
    assert sum(v for (e, _), v in by.items() if e == "exp-1") == n
