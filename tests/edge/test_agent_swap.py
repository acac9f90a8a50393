"""Sync agent: swap under load, self-test and load failures keep the last good bundle,
rollback without download, fallback after a restart, and the health figures it sends."""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgemark.bundle import BundleStore, TrustStore, build_bundle, load_signing_key
from edgemark.edge import DecisionRequest, NodeHubClient, Runtime, SyncAgent
from edgemark.edge._agent import _health
from edgemark.features import DEFAULT_SPEC
from tests.edge.edge_support import OFFERS, POLICY, T0, BundleFactory
from tests.edge.test_agent import TOKEN, FakeHub


def agent_for(tmp_path: Path, trust: TrustStore, hub: FakeHub) -> SyncAgent:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust)
    client = NodeHubClient("http://hub.test", TOKEN, transport=httpx.MockTransport(hub.handle))
    return SyncAgent(runtime, client, BundleStore(tmp_path / "node" / "bundles"))


def odd_bundle(tmp_path: Path, keys: Path, model_path: Path, version: str, **files: Any) -> Path:
    """A correctly signed bundle whose model or self-test is wrong."""
    sources: dict[str, Path] = {"model.onnx": model_path}
    for name, content in files.items():
        src = tmp_path / "odd" / version / name.replace("_", ".")
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
        sources[name.replace("_", ".")] = src
    return build_bundle(
        tmp_path / "odd-bundles" / version, name="propensity", version=version, files=sources,
        feature_spec_hash=DEFAULT_SPEC.spec_hash(), offers=OFFERS, policy=POLICY,
        metrics={"auc_test": 0.7}, signing_key=load_signing_key(keys / "trusted" / "k1.key"),
        key_id="k1",
    )  # fmt: skip


def test_swaps_under_load_without_a_failed_decision(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    hub = FakeHub()
    hub.add("v1", make_bundle("v1"))
    hub.add("v2", make_bundle("v2"))
    hub.assigned = "v1"
    agent = agent_for(tmp_path, trust, hub)
    agent.sync_once()
    stop, failures, served = threading.Event(), [], set()

    def decide_forever(worker: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                served.add(agent.runtime.decide(DecisionRequest(f"c{worker}-{i % 50}", T0 + i))
                           .bundle_version)  # fmt: skip
            except Exception as exc:  # any failure is what this test looks for
                failures.append(exc)
            i += 1

    threads = [threading.Thread(target=decide_forever, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    try:
        for version in ("v2", "v1", "v2", "v1", "v2"):  # rollouts and rollbacks
            hub.assigned = version
            assert agent.sync_once()["active_version"] == version
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert served == {"v1", "v2"}
    assert hub.downloads.count("v1") == 1 and hub.downloads.count("v2") == 1  # no re-download
    agent.runtime.close()


def test_a_bundle_that_does_not_load_is_refused_and_v1_keeps_serving(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory, keys: Path
) -> None:
    hub = FakeHub()
    hub.add("v1", make_bundle("v1"))
    hub.bundles["v2"] = _with_garbage_model(tmp_path, keys, "v2")
    hub.assigned = "v1"
    agent = agent_for(tmp_path, trust, hub)
    agent.sync_once()

    hub.assigned = "v2"
    result = agent.sync_once()

    assert result["active_version"] == "v1"
    assert hub.heartbeats[-1]["bundle_error"]["version"] == "v2"
    assert "model.onnx" in hub.heartbeats[-1]["bundle_error"]["reason"]
    assert agent.runtime.decide(DecisionRequest("c1", T0)).bundle_version == "v1"
    agent.runtime.close()


def _with_garbage_model(tmp_path: Path, keys: Path, version: str) -> bytes:
    from edgemark.bundle import pack_bundle

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not an onnx model")
    out = build_bundle(
        tmp_path / "garbage-bundle", name="propensity", version=version,
        files={"model.onnx": garbage}, feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        offers=OFFERS, policy=POLICY, metrics={},
        signing_key=load_signing_key(keys / "trusted" / "k1.key"), key_id="k1",
    )  # fmt: skip
    return pack_bundle(out)


@pytest.mark.skipif(
    importlib.util.find_spec("edgemark.edge._active") is None,
    reason="this Runtime.load does not run selftest.json yet (agreement 1, issue 5)",
)
def test_a_failed_self_test_is_reported_and_the_last_good_bundle_serves(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory, keys: Path, model_path: Path
) -> None:
    hub = FakeHub()
    hub.add("v1", make_bundle("v1"))
    row = [0.5] * len(DEFAULT_SPEC.names)
    wrong = {"inputs": [row], "expected": [0.999999], "tolerance": 1e-4}
    hub.add("v2", odd_bundle(tmp_path, keys, model_path, "v2", selftest_json=wrong))
    hub.assigned = "v1"
    agent = agent_for(tmp_path, trust, hub)
    agent.sync_once()

    hub.assigned = "v2"
    result = agent.sync_once()

    assert result["active_version"] == "v1"
    assert hub.heartbeats[-1]["bundle_error"]["reason"].startswith("self-test failed")
    agent.runtime.close()


def test_restart_falls_back_to_the_newest_good_bundle_that_still_loads(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    hub = FakeHub()
    hub.add("v1", make_bundle("v1"))
    hub.add("v2", make_bundle("v2"))
    hub.assigned = "v1"
    agent = agent_for(tmp_path, trust, hub)
    agent.sync_once()
    hub.assigned = "v2"
    agent.sync_once()
    agent.runtime.close()
    v2_dir = agent.good.path_of("v2")
    assert v2_dir is not None
    shutil.rmtree(v2_dir)  # the disk lost the serving bundle

    hub.down = True
    restarted = agent_for(tmp_path, trust, hub)

    assert restarted.runtime.active_version == "v1"
    restarted.runtime.close()


def test_health_figures_are_made_safe_for_the_hub() -> None:
    assert _health(None) is None and _health({"decisions": 3}) is None
    got = _health({
        "version": "v2", "decisions": 10, "errors": 12, "treatment_exposures": 4,
        "treatment_conversions": 9, "holdout_conversions": 2, "decide_p99_us": float("nan"),
        "drift_psi": 3e9, "junk": 1,
    })  # fmt: skip
    assert got == {
        "version": "v2", "decisions": 10, "errors": 10, "treatment_exposures": 4,
        "treatment_conversions": 4, "drift_psi": 1e6,
    }  # fmt: skip
