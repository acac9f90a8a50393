"""A federated model becomes a signed bundle and reaches a node through the hub's rollout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgemark.bundle import BundleStore, TrustStore, generate_keypair, load_signing_key, pack_bundle
from edgemark.features import DEFAULT_SPEC, OnlineFeatures
from edgemark.federated import bundle_federated_model, export_logistic_onnx, predict
from edgemark.models import OnnxScorer

hub_mod = pytest.importorskip("edgemark.hub")
pytest.importorskip("onnx")
edge = pytest.importorskip("edgemark.edge")

ADMIN_TOKEN = "admin-token-0123456789abcdef"
OFFERS = [{"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 0.0}]
POLICY = {
    "experiment": "fl-exp", "salt": "s", "holdout_share": 0.2, "lookback_hours": 24.0,
    "epsilon_per_report": 1.0, "max_contributions_per_user": 1, "revenue_cap": 100.0,
    "prior_alpha": 1.0, "prior_beta": 1.0,
}  # fmt: skip
T0 = 20_460 * 86400.0


def params() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.normal(0, 0.3, len(DEFAULT_SPEC.names) + 1)


def test_onnx_export_scores_like_numpy(tmp_path: Path) -> None:
    p = params()
    path = export_logistic_onnx(p, DEFAULT_SPEC.names, tmp_path / "m.onnx")
    x = np.random.default_rng(0).gamma(1.0, 3.0, size=(500, len(DEFAULT_SPEC.names)))
    assert np.allclose(OnnxScorer(path).score(x), predict(p, x), atol=2e-6)


def test_federated_bundle_goes_out_through_a_rollout(tmp_path: Path) -> None:
    generate_keypair(tmp_path / "keys", "fleet")
    trust_dir = tmp_path / "trust"
    trust_dir.mkdir()
    (trust_dir / "fleet.pub").write_bytes((tmp_path / "keys" / "fleet.pub").read_bytes())
    training = {"rounds": 30, "epsilon": 7.98, "delta": 1e-6, "clip_norm": 0.5}
    bundle = bundle_federated_model(
        params(), tmp_path / "bundle", feature_names=DEFAULT_SPEC.names,
        feature_spec_hash=DEFAULT_SPEC.spec_hash(), version="fl1", offers=OFFERS,
        policy=POLICY, training=training, key_id="fleet",
        signing_key=load_signing_key(tmp_path / "keys" / "fleet.key"),
        metrics={"auc_test": 0.81},
    )  # fmt: skip
    assert json.loads((bundle / "card.json").read_text())["training"] == training
    settings = hub_mod.HubSettings(
        hub_mod.Secret(ADMIN_TOKEN), database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        bundle_dir=tmp_path / "hub-bundles", controller_interval_s=0.05,
    )  # fmt: skip
    with (
        hub_mod.ServerThread(settings) as server,
        hub_mod.AdminClient(server.url, ADMIN_TOKEN) as admin,
    ):
        admin.upload_bundle(pack_bundle(bundle))
        token = admin.enrol(admin.create_enrolment_token("store-1")["enrolment_token"], "store-1")
        runtime = edge.Runtime(tmp_path / "node", "store-1",
                               trust=TrustStore.from_directory(trust_dir))  # fmt: skip
        client = edge.NodeHubClient(admin.base_url, token["node_token"])
        agent = edge.SyncAgent(runtime, client, BundleStore(tmp_path / "node" / "bundles"))
        try:
            admin.create_rollout("fl1", [100])
            assert agent.sync_once()["active_version"] == "fl1"
            assert admin.rollouts()["rollouts"][0]["state"] == "completed"
            decision = runtime.decide(edge.DecisionRequest("c1", T0))
            assert decision.bundle_version == "fl1"
            # A new user's features are the spec's defaults at that time: the score is the
            # federated model's (float32 in ONNX).
            x0 = OnlineFeatures(DEFAULT_SPEC).vector("nobody", T0).reshape(1, -1)
            assert decision.score == pytest.approx(float(predict(params(), x0)[0]), abs=1e-5)
        finally:
            runtime.close()
            client.close()
