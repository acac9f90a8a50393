"""On-device attribution (per-offer lookback, last touch and position based, each purchase
credited once) and drift (PSI against the bundle's reference histograms)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from edgemark.bundle import TrustStore, build_bundle, load_signing_key
from edgemark.edge import DecisionRequest, Runtime, serve_api
from edgemark.events import Event
from edgemark.features import DEFAULT_SPEC
from tests.edge.edge_support import OFFERS, POLICY, T0, BundleFactory

KEY = b"a" * 32
HOUR = 3600.0
SLOTS = {o["id"]: {"eligible": {"context": {"slot": [o["id"]]}}} for o in OFFERS}


def _show(runtime: Runtime, user: str, offer: str, ts: float) -> None:
    decision = runtime.decide(DecisionRequest(user, ts, context={"slot": offer}))
    assert decision.offer == offer


def _buy(user: str, ts: float, event_id: str) -> Event:
    return Event(event_id, ts, user, "purchase", "store-1", amount=30.0,
                 consent_personalization=True, consent_measurement=True)  # fmt: skip


@pytest.mark.parametrize(
    ("model", "expected"),
    [("last_touch", {"freeship": 1.0}), ("position_based", {"bogo": 0.5, "freeship": 0.5})],
)
def test_credit_goes_to_touches_inside_each_offers_lookback(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory, model: str,
    expected: dict[str, float],
) -> None:  # fmt: skip
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY)
    runtime.load(make_bundle(
        "v1", policy="uniform", holdout_share=0.0, explore_share=0.0, attribution=model,
        lookback_hours=24.0, lookback_hours_by_offer={"bogo": 72.0, "freeship": 72.0},
        guardrails={"offers": SLOTS},
    ))  # fmt: skip
    _show(runtime, "a", "bogo", T0)
    _show(runtime, "a", "pct10", T0 + 10 * HOUR)  # 24 h lookback: over by the purchase
    _show(runtime, "a", "freeship", T0 + 20 * HOUR)
    runtime.observe(_buy("a", T0 + 40 * HOUR, "p1"))
    runtime.observe(_buy("a", T0 + 40 * HOUR, "p1"))  # the same purchase again: no credit
    credited = {o: a["conversions"] for o, a in runtime.stats()["attribution"].items()}
    assert credited == pytest.approx(expected)
    revenue = sum(a["revenue"] for a in runtime.stats()["attribution"].values())
    assert revenue == pytest.approx(30.0)


def test_position_based_splits_40_20_40() -> None:
    from edgemark.edge._attribution import Touch, credits

    touches = [Touch(f"d{i}", float(i), "x", 100.0) for i in range(5)]
    shares = [w for _, w in credits(touches, 10.0, "position_based")]
    assert shares == pytest.approx([0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4])
    assert credits(touches, 500.0, "last_touch") == []


REFERENCE = {
    "features": {"views_7d": {"edges": [0.5, 2.5], "fractions": [0.5, 0.3, 0.2]}},
    "score": {"edges": [0.2, 0.4], "fractions": [0.2, 0.5, 0.3]},
}


def _psi(expected: list[float], actual: list[float]) -> float:
    """Reference PSI with the same 1e-4 floor, written out."""
    e = [max(v, 1e-4) for v in expected]
    a = [max(v, 1e-4) for v in actual]
    e, a = [v / sum(e) for v in e], [v / sum(a) for v in a]
    return sum((x - y) * math.log(x / y) for x, y in zip(a, e, strict=True))


def test_drift_psi_against_the_bundles_reference(
    tmp_path: Path, trust: TrustStore, keys: Path, model_path: Path
) -> None:
    bundle = build_bundle(
        tmp_path / "bundle", name="propensity", version="v1", files={"model.onnx": model_path},
        feature_spec_hash=DEFAULT_SPEC.spec_hash(), offers=OFFERS, policy=POLICY, metrics={},
        signing_key=load_signing_key(keys / "trusted" / "k1.key"), key_id="k1",
        extra={"reference_histograms": REFERENCE},
    )  # fmt: skip
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY)
    runtime.load(bundle)
    views = [0, 0, 1, 3, 3, 3]  # per user: live shares 2/6, 1/6, 3/6 over the view bins
    for u, n in enumerate(views):
        for k in range(n):
            runtime.observe(Event(f"v{u}-{k}", T0 - 60, f"u{u}", "view", "store-1",
                                  consent_personalization=True))  # fmt: skip
    scores: list[float] = []
    for i in range(600):
        scores.append(runtime.decide(DecisionRequest(f"u{i % 6}", T0)).score or 0.0)
    runtime.flush()
    drift = runtime.stats()["drift_psi"]
    assert drift["views_7d"] == pytest.approx(_psi([0.5, 0.3, 0.2], [2 / 6, 1 / 6, 3 / 6]))
    live = np.bincount(np.searchsorted([0.2, 0.4], scores, side="right"), minlength=3) / 600
    assert drift["score"] == pytest.approx(_psi([0.2, 0.5, 0.3], list(live)))
    health: dict[str, Any] = runtime.stats()["health"]
    assert health["drift_psi"] == pytest.approx(max(drift.values()))
    api = serve_api(runtime)
    try:
        text = httpx.get(f"{api.url}/metrics").text
    finally:
        api.stop()
    assert f'edgemark_edge_drift_psi{{feature="views_7d"}} {drift["views_7d"]!r}' in text
    runtime.close()


def test_no_reference_means_no_drift(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY)
    runtime.load(make_bundle("v1"))
    for i in range(200):
        runtime.decide(DecisionRequest(f"u{i}", T0))
    runtime.flush()
    assert runtime.stats()["drift_psi"] == {} and runtime.stats()["health"]["drift_psi"] is None
