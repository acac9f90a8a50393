"""Hot swap: bundles loaded again and again while threads decide and observe, and no
decision fails; a bundle that fails to load leaves the serving one in place."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edgemark.bundle import TrustStore
from edgemark.edge import DecisionRequest, Runtime
from edgemark.errors import BundleError
from edgemark.events import Event
from tests.edge.edge_support import T0, BundleFactory


def test_hot_swap_under_load_fails_no_decision(
    tmp_path: Path, trust: TrustStore, make_bundle: BundleFactory
) -> None:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust, key=b"w" * 32)
    bundles = {v: make_bundle(v) for v in ("v1", "v2")}
    broken = make_bundle("v3", guardrails={"offers": {"nope": {}}})
    runtime.load(bundles["v1"])
    stop, failures = threading.Event(), []
    served: dict[str, int] = {}

    def decide(worker: int) -> None:
        i = 0
        while not stop.is_set():
            try:
                decision = runtime.decide(DecisionRequest(f"c{worker}-{i % 97}", T0 + i))
                served[decision.bundle_version] = served.get(decision.bundle_version, 0) + 1
                if i % 5 == 0:
                    runtime.observe(Event(f"e{worker}-{i}", T0 + i, f"c{worker}-{i % 97}",
                                          "purchase", "store-1", amount=3.0))  # fmt: skip
            except Exception as exc:  # any failure is what this test looks for
                failures.append(exc)
            i += 1

    threads = [threading.Thread(target=decide, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    try:
        for k in range(12):
            runtime.load(bundles["v2" if k % 2 == 0 else "v1"])
            if k == 5:
                with pytest.raises(BundleError):
                    runtime.load(broken)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert set(served) == {"v1", "v2"} and sum(served.values()) > 100
    assert runtime.active_version == "v1"
    runtime.close()
