"""A node computes the feature spec it was started with (the library in the store's time
zone, say), serves only bundles built for that spec, and refuses to reuse state built under
another spec, except for its context settings."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from edgemark.bundle import TrustStore, build_bundle, load_signing_key
from edgemark.edge import DecisionRequest, Runtime
from edgemark.errors import BundleError, ConfigError
from edgemark.features import DEFAULT_SPEC
from tests.edge.edge_support import OFFERS, POLICY, T0, BundleFactory

BERLIN = replace(DEFAULT_SPEC, timezone="Europe/Berlin")


def _bundle_for(spec_hash: str, tmp_path: Path, model_path: Path, keys: Path) -> Path:
    return build_bundle(
        tmp_path / "berlin-bundle", name="propensity", version="b1",
        files={"model.onnx": model_path}, feature_spec_hash=spec_hash, offers=OFFERS,
        policy=POLICY, metrics={"auc_test": 0.7},
        signing_key=load_signing_key(keys / "trusted" / "k1.key"), key_id="k1",
    )  # fmt: skip


def test_a_zoned_node_serves_its_own_spec_and_refuses_the_utc_one(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory, model_path: Path, keys: Path
) -> None:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, spec=BERLIN)
    try:
        with pytest.raises(BundleError, match="spec"):
            runtime.load(make_bundle("v1"))  # built for the UTC library
        runtime.load(_bundle_for(BERLIN.spec_hash(), tmp_path, model_path, keys))
        decision = runtime.decide(DecisionRequest(user="c1", ts=T0))
        assert decision.bundle_version == "b1" and runtime.spec is BERLIN
    finally:
        runtime.close()


def test_state_built_under_one_spec_is_not_read_under_another(
    tmp_path: Path, trust: TrustStore
) -> None:
    Runtime(tmp_path / "node", "store-1", trust=trust).close()
    # The time zone is read at decision time: an existing node may change it.
    Runtime(tmp_path / "node", "store-1", trust=trust, spec=BERLIN).close()
    other = replace(DEFAULT_SPEC, session_gap_minutes=45.0)
    with pytest.raises(ConfigError, match="fresh state directory"):
        Runtime(tmp_path / "node", "store-1", trust=trust, spec=other)
