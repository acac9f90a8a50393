"""Runtime end to end with a real signed bundle: decide, observe, attribute, report, restart."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from edgemark.bundle import TrustStore
from edgemark.edge import DecisionRequest, Runtime
from edgemark.edge._reports import idempotency_key
from edgemark.edge._state import StateStore
from edgemark.errors import BundleSignatureError, NoBundleError, UnknownOfferError
from edgemark.events import Event, Pseudonymizer
from edgemark.privacy import PrivacyBudget
from tests.edge.edge_support import DAY, T0, BundleFactory

KEY = b"k" * 32
ARMS = {"holdout", "none", "pct10", "bogo", "freeship"}
OPEN_BUDGET = PrivacyBudget(1e9, 30)  # tests that use epsilon 1e6 to see exact counts


def _runtime(tmp_path: Path, trust: TrustStore, **kw: object) -> Runtime:
    return Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY, **kw)  # type: ignore[arg-type]


# Events carry no consent unless they say so (privacy by default).
CONSENTED = {
    "consent_personalization": True,
    "consent_measurement": True,
    "consent_training": True,
}


def _buy(user: str, ts: float, amount: float, n: int = 0) -> Event:
    return Event(f"p-{user}-{ts}-{n}", ts, user, "purchase", "store-1", amount=amount, **CONSENTED)


def test_no_bundle_means_no_decision(tmp_path: Path, trust: TrustStore) -> None:
    runtime = _runtime(tmp_path, trust)
    with pytest.raises(NoBundleError, match="sync"):
        runtime.decide(DecisionRequest("cust-1", T0))


def test_decide_scores_with_the_bundle_model(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory, model_path: Path
) -> None:
    from edgemark.features import DEFAULT_SPEC, OnlineFeatures
    from edgemark.models import OnnxScorer

    runtime = _runtime(tmp_path, trust)
    runtime.load(make_bundle("v1"))
    for k in range(5):
        runtime.observe(Event(f"v{k}", T0 + k * 60, "cust-1", "view", "store-1", **CONSENTED))
    runtime.observe(_buy("cust-1", T0 + 600, 30.0))
    decision = runtime.decide(DecisionRequest("cust-1", T0 + DAY * 2))
    # Reference: the same features and model computed independently.
    online = OnlineFeatures(DEFAULT_SPEC)
    for k in range(5):
        online.update("x", "view", T0 + k * 60)
    online.update("x", "purchase", T0 + 600, 30.0)
    expected = OnnxScorer(model_path).score_one(online.vector("x", T0 + DAY * 2))
    assert decision.score is not None and math.isclose(decision.score, expected, rel_tol=1e-6)
    assert decision.bundle_version == "v1" and decision.experiment == "exp-1"
    assert decision.arm in ARMS and decision.layer in {"holdout", "explore", "policy"}
    assert 0 < decision.probability <= 1 and decision.latency_us > 0
    no_consent = runtime.decide(
        DecisionRequest("cust-1", T0 + DAY * 2, consent_personalization=False)
    )
    assert no_consent.score is None
    assert "no_personalization_consent" in no_consent.reasons


def test_layers_shares_and_logged_probabilities(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust)
    runtime.load(make_bundle("v1", holdout_share=0.3, explore_share=0.3, min_propensity=0.5))
    n = 6000
    decisions = [runtime.decide(DecisionRequest(f"c{i}", T0 + i)) for i in range(n)]
    by_layer = {
        layer: [d for d in decisions if d.layer == layer]
        for layer in ("holdout", "explore", "policy")
    }
    for layer, share in (("holdout", 0.3), ("explore", 0.3), ("policy", 0.4)):
        assert abs(len(by_layer[layer]) / n - share) < 0.03  # > 4 standard errors
    assert all(d.offer is None and d.probability == 0.3 for d in by_layer["holdout"])
    assert all(d.offer == d.arm and math.isclose(d.probability, 0.1) for d in by_layer["explore"])
    # IPS of "always play a" within each layer must be ~1 for every arm of that layer.
    for layer, arms in (("explore", ("pct10", "bogo", "freeship")),
                        ("policy", ("none", "pct10", "bogo", "freeship"))):  # fmt: skip
        for arm in arms:
            ips = sum(1 / d.probability for d in by_layer[layer] if d.arm == arm) / n
            assert abs(ips - 1) < 0.15, (layer, arm, ips)
    # Assignment is deterministic per user: another node with the same salt agrees.
    again = _runtime(tmp_path / "other", trust)
    again.load(make_bundle("v1", holdout_share=0.3, explore_share=0.3))
    assert [again.decide(DecisionRequest(f"c{i}", T0)).layer for i in range(300)] == [
        d.layer for d in decisions[:300]
    ]


def test_attribution_within_lookback_once(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust, privacy_budget=OPEN_BUDGET)
    runtime.load(make_bundle("v1", holdout_share=0.0, explore_share=1.0, epsilon_per_report=1e6))
    runtime.decide(DecisionRequest("a", T0 + 100))
    runtime.decide(DecisionRequest("b", T0 + 100))
    runtime.observe(_buy("a", T0 + 100 + 3600, 250.0))  # within 24 h, clipped to 100
    runtime.observe(_buy("a", T0 + 100 + 7200, 40.0, 1))  # second purchase: no 2nd conversion
    runtime.observe(_buy("a", T0 + 100 + 3600, 250.0))  # the same event again: ignored
    runtime.observe(_buy("b", T0 + 100 + 25 * 3600, 40.0))  # outside lookback
    rows = runtime.reports(int(T0 // DAY) + 1)
    assert sum(r["exposures"] for r in rows) == 2
    assert sum(r["conversions"] for r in rows) == 1
    assert math.isclose(sum(r["revenue"] for r in rows), 100.0, abs_tol=0.05)
    assert runtime.stats()["duplicate_events"] == 1


def test_unknown_offer_is_refused(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust)
    runtime.load(make_bundle("v1"))
    bad = Event("e1", T0, "a", "redeem", "store-1", offer="nope")
    with pytest.raises(UnknownOfferError, match="nope"):
        runtime.observe(bad)


def test_reports_are_bounded_noised_consented_and_idempotent(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust, privacy_budget=OPEN_BUDGET)
    runtime.load(
        make_bundle(
            "v1", epsilon_per_report=1e6, max_contributions_per_user=2, holdout_share=0.5,
            explore_share=0.5,
        )
    )  # fmt: skip
    day = int(T0 // DAY)
    for k in range(5):  # one user, five decisions: only two count
        runtime.decide(DecisionRequest("heavy", T0 + k))
    for k in range(3):  # no measurement consent: never counted
        runtime.decide(DecisionRequest(f"quiet{k}", T0 + k, consent_measurement=False))
    rows = runtime.reports(day + 1)
    assert {r["arm"] for r in rows} == {"holdout", "pct10", "bogo", "freeship"}
    assert sum(r["exposures"] for r in rows) == 2
    for row in rows:
        assert row["idempotency_key"] == idempotency_key("store-1", day, "exp-1", row["arm"])
        assert row["epsilon"] == 1e6
        # Four statistics (exposures, conversions, revenue, squares) share epsilon.
        assert math.isclose(row["count_noise_scale"], 2 / (1e6 / 4))
        assert math.isclose(row["revenue_noise_scale"], 200 / (1e6 / 4))
    assert runtime.reports(day + 1) == []  # a day is reported once
    # With a realistic epsilon the counts are noised with the stated scale.
    noisy = _runtime(tmp_path / "noisy", trust)
    noisy.load(
        make_bundle("v1", epsilon_per_report=0.3, max_contributions_per_user=1, explore_share=0.8)
    )
    for d in range(40):
        for i in range(50):
            noisy.decide(DecisionRequest(f"c{i}", T0 + d * DAY + i))
    noisy_rows = noisy.reports(day + 40)
    errors = [
        sum(r["exposures"] for r in noisy_rows if r["day"] == day + d) - 50 for d in range(40)
    ]
    # Four rows per day, Laplace scale 13.3 each: sd of the sum = sqrt(4 * 2 * 178) ≈ 38.
    assert 10 < np.std(errors) < 60


def test_no_identifier_leaves_in_rows_heartbeat_or_outbox(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust)
    runtime.load(make_bundle("v1"))
    users = [f"cust-{i:06d}" for i in range(30)]
    for i, user in enumerate(users):
        runtime.decide(DecisionRequest(user, T0 + i))
        runtime.observe(_buy(user, T0 + i + 60, 10.0))
    rows = runtime.reports(int(T0 // DAY) + 1)
    pseudonyms = [Pseudonymizer(KEY).pseudonym(u) for u in users]
    blobs = [
        json.dumps(rows).encode(),
        json.dumps(runtime.stats()).encode(),
        *runtime.store.outbox_payloads(),
    ]
    for blob in blobs:
        for ident in [*users, *pseudonyms, *(p[2:] for p in pseudonyms)]:
            assert ident.encode() not in blob
    raw_db = b"".join(p.read_bytes() for p in (tmp_path / "node").glob("edge.db*"))
    assert not any(u.encode() in raw_db for u in users)


def test_untrusted_bundle_is_refused_and_previous_keeps_serving(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust)
    runtime.load(make_bundle("v1"))
    with pytest.raises(BundleSignatureError, match="evil"):
        runtime.load(make_bundle("v2", key="evil"))
    assert runtime.active_version == "v1"
    assert runtime.decide(DecisionRequest("a", T0)).bundle_version == "v1"
    no_trust = Runtime(tmp_path / "n2", "store-2", trust=None, key=KEY)
    with pytest.raises(BundleSignatureError, match="trust store"):
        no_trust.load(make_bundle("v1"))


def test_state_survives_restart(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle("v1", holdout_share=0.0, explore_share=1.0)
    first = Runtime(tmp_path / "node", "store-1", trust=trust)  # key file created
    first.load(bundle)
    for k in range(3):
        first.observe(Event(f"v{k}", T0 + k, "cust-1", "view", "store-1", **CONSENTED))
    first.decide(DecisionRequest("cust-1", T0 + 10))
    first.observe(_buy("cust-1", T0 + 20, 10.0))
    first.reports(int(T0 // DAY) + 1)
    after = first.decide(DecisionRequest("cust-1", T0 + 30))
    first.close()
    assert (tmp_path / "node" / "node.key").stat().st_mode & 0o777 == 0o600

    second = Runtime(tmp_path / "node", "store-1", trust=trust)
    assert second.reload_last() is not None and second.active_version == "v1"
    assert len(second.store.unsent()) == 4
    assert second.stats()["decisions_by_version"] == {"v1": 2}
    again = second.decide(DecisionRequest("cust-1", T0 + 40))
    reference = Runtime(
        tmp_path / "ref", "store-1", trust=trust, key=(tmp_path / "node" / "node.key").read_bytes()
    )
    reference.load(bundle)
    for k in range(3):
        reference.observe(Event(f"v{k}", T0 + k, "cust-1", "view", "store-1", **CONSENTED))
    reference.observe(_buy("cust-1", T0 + 20, 10.0))
    assert again.score == reference.decide(DecisionRequest("cust-1", T0 + 40)).score
    # The restored last decision still converts (once) after the restart; events seen
    # before the restart are still recognised as duplicates.
    second.observe(_buy("cust-1", T0 + 50, 10.0))
    second.observe(_buy("cust-1", T0 + 20, 10.0))
    assert second.stats()["duplicate_events"] == 1
    second.close()
    counts = StateStore(tmp_path / "node" / "edge.db").counts()
    assert counts["conversions"] == 2 and counts["decisions"] == 3
    assert after.decision_id != again.decision_id


def test_stats_report_latency_percentiles(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust)
    runtime.load(make_bundle("v1"))
    for i in range(300):
        runtime.decide(DecisionRequest(f"c{i}", T0 + i))
    stats = runtime.stats()
    assert stats["active_version"] == "v1"
    assert stats["decisions_by_version"] == {"v1": 300}
    assert 0 < stats["latency_p50_us"] <= stats["latency_p99_us"] < 50_000


def test_old_events_and_reported_decisions_are_pruned(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = _runtime(tmp_path, trust, event_retention_days=1.0, decision_retention_days=2)
    runtime.load(make_bundle("v1"))
    quiet = {"consent_personalization": False}  # no context: resolved at once
    runtime.observe(_buy("a", T0, 5.0))
    runtime.decide(DecisionRequest("a", T0 + 10, **quiet))  # type: ignore[arg-type]
    runtime.reports(int(T0 // DAY) + 1)
    runtime.decide(DecisionRequest("b", T0 + 4 * DAY, **quiet))  # type: ignore[arg-type]
    runtime.flush()
    runtime._maint._last_prune = 0.0  # prune now rather than in a minute
    runtime._maint._prune()
    counts = runtime.store.counts()
    assert counts["decisions"] == 1 and counts["events"] == 0  # day 0 is gone, day 4 stays
    runtime.close()
