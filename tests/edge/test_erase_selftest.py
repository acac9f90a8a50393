"""Agreements 1 and 2: the bundle self-test runs before a swap; a user can be erased from a
node online (Runtime.erase_user, POST /v1/erase) and offline (erase_user_state)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import pytest

from edgemark.bundle import TrustStore, build_bundle, load_signing_key
from edgemark.edge import DecisionRequest, Runtime, erase_user_state, serve_api
from edgemark.errors import BundleError
from edgemark.events import Event, Pseudonymizer
from edgemark.features import DEFAULT_SPEC
from edgemark.models import OnnxScorer, make_selftest
from edgemark.privacy import PrivacyBudget
from tests.edge.edge_support import DAY, OFFERS, POLICY, T0, BundleFactory

KEY = b"e" * 32
CONSENTED = {"consent_personalization": True, "consent_measurement": True}


def _bundle_with_selftest(
    tmp_path: Path, keys: Path, model_path: Path, version: str, selftest: dict[str, object]
) -> Path:
    source = tmp_path / f"selftest-{version}.json"
    source.write_text(json.dumps(selftest))
    return build_bundle(
        tmp_path / "bundles" / version,
        name="propensity",
        version=version,
        files={"model.onnx": model_path, "selftest.json": source},
        feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        offers=OFFERS,
        policy=POLICY,
        metrics={},
        signing_key=load_signing_key(keys / "trusted" / "k1.key"),
        key_id="k1",
    )


def test_self_test_passes_or_refuses_before_the_swap(
    tmp_path: Path, trust: TrustStore, keys: Path, model_path: Path
) -> None:
    rows = np.random.default_rng(0).gamma(1.0, 2.0, size=(8, len(DEFAULT_SPEC.names)))
    good = make_selftest(OnnxScorer(model_path), rows)
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=KEY)
    runtime.load(_bundle_with_selftest(tmp_path, keys, model_path, "v1", good))
    assert runtime.active_version == "v1"

    wrong = {**good, "expected": [min(e + 0.01, 1.0) for e in good["expected"]]}  # type: ignore[attr-defined]
    with pytest.raises(BundleError, match="self-test failed"):
        runtime.load(_bundle_with_selftest(tmp_path, keys, model_path, "v2", wrong))
    assert runtime.active_version == "v1"
    assert runtime.decide(DecisionRequest("a", T0)).bundle_version == "v1"
    runtime.close()


def _history(runtime: Runtime, users: list[str]) -> None:
    for i, user in enumerate(users):
        runtime.observe(Event(f"v-{i}", T0 + i, user, "view", "store-1", **CONSENTED))
        runtime.decide(DecisionRequest(user, T0 + 100 + i))
        runtime.observe(
            Event(f"p-{i}", T0 + 200 + i, user, "purchase", "store-1", amount=5.0, **CONSENTED)
        )


def test_online_erasure_over_the_api_removes_every_row_of_the_user(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = Runtime(
        tmp_path / "node", "store-1", trust=trust, key=KEY, privacy_budget=PrivacyBudget(1e9)
    )
    runtime.load(make_bundle("v1", holdout_share=0.5, explore_share=0.5, epsilon_per_report=1e6))
    _history(runtime, ["alice", "bob"])
    api = serve_api(runtime)
    try:
        r = httpx.post(f"{api.url}/v1/erase", json={"user": "alice"})
        assert r.status_code == 200
        erased = r.json()["erased"]
        assert erased["decisions"] == 1 and erased["events"] == 2 and erased["features"] == 1
        assert erased["conversions"] == 1 and erased["last_decision"] == 1
        assert httpx.post(f"{api.url}/v1/erase", json={}).status_code == 400
    finally:
        api.stop()
    rows = runtime.reports(int(T0 // DAY) + 1)
    assert sum(r["exposures"] for r in rows) == 1  # only bob is counted
    runtime.close()
    alice = Pseudonymizer(KEY).pseudonym("alice")
    bob = Pseudonymizer(KEY).pseudonym("bob")
    raw = b"".join(p.read_bytes() for p in (tmp_path / "node").glob("edge.db*"))
    assert alice.encode() not in raw and bob.encode() in raw


def test_offline_erasure_of_a_stopped_node(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust)  # key in node.key
    runtime.load(make_bundle("v1"))
    _history(runtime, ["alice", "bob"])
    runtime.close()

    counts = erase_user_state(tmp_path / "node", "alice")

    assert counts["decisions"] == 1 and counts["events"] == 2 and counts["features"] == 1
    assert erase_user_state(tmp_path / "node", "alice")["decisions"] == 0
    assert erase_user_state(tmp_path / "nowhere", "alice") == dict.fromkeys(counts, 0)
    restarted = Runtime(tmp_path / "node", "store-1", trust=trust)
    restarted.reload_last()
    assert restarted.stats()["decisions_by_version"] == {"v1": 1}
    restarted.close()
