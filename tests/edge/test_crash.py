"""Crash safety: SIGKILL an ``edgemark edge serve`` process under heavy decide/observe load,
then restart: every acknowledged event and decision is there, counters agree with the
rows, and SQLite finds nothing corrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from edgemark.bundle import TrustStore
from edgemark.edge import DecisionRequest, Runtime
from edgemark.edge._state import StateStore
from edgemark.events import Pseudonymizer
from tests.edge.edge_support import DAY, T0, BundleFactory

pytestmark = pytest.mark.slow
WORKERS = 4


def _serve(state: Path, trust_dir: Path, bundle: Path, log: Path) -> subprocess.Popen[bytes]:
    args = ["edge", "serve", "--state", str(state), "--trust", str(trust_dir),
            "--node-id", "store-1", "--bundle", str(bundle), "--port", "0"]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "edgemark", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _port(state: Path, child: subprocess.Popen[bytes], log: Path) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, log.read_text()
        text = (state / "api.port").read_text().strip() if (state / "api.port").exists() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    raise AssertionError("the node did not start")


def _load(url: str, worker: int, stop: threading.Event, acked: dict[str, list[str]]) -> None:
    """Decide and send outcomes as fast as possible; remember what the node acknowledged."""
    seq = 0
    with httpx.Client(base_url=url, timeout=5.0) as client:
        while not stop.is_set():
            users = [f"cust-{worker}-{(seq + k) % 40}" for k in range(5)]
            ts = T0 + seq
            consent = {"consent_personalization": True, "consent_measurement": True}
            events = []
            for k, user in enumerate(users):
                common = {"user": user, "node": "store-1", **consent}
                events.append({"event_id": f"v-{worker}-{seq}-{k}", "ts": ts, "type": "view"})
                events.append(
                    {"event_id": f"p-{worker}-{seq}-{k}", "ts": ts + 1, "type": "purchase",
                     "amount": 9.5}
                )  # fmt: skip
                events[-2].update(common)
                events[-1].update(common)
            try:
                r = client.post("/v1/decide", json={"requests": [
                    {"user": u, "ts": ts, **consent} for u in users]})  # fmt: skip
                if r.status_code == 200:
                    acked["decisions"] += [d["decision_id"] for d in r.json()["decisions"]]
                r = client.post("/v1/events", json={"events": events})
                if r.status_code == 200:
                    assert r.json()["rejected"] == []
                    acked["events"] += [e["event_id"] for e in events]
            except httpx.HTTPError:
                return  # the node is gone: nothing in flight was acknowledged
            seq += 2


def test_sigkill_under_load_loses_nothing_acknowledged(
    tmp_path: Path, keys: Path, make_bundle: BundleFactory
) -> None:
    state, trust_dir = tmp_path / "node", keys / "trusted"
    bundle = make_bundle("v1", holdout_share=0.2, explore_share=0.3)
    log = tmp_path / "serve.log"
    child = _serve(state, trust_dir, bundle, log)
    try:
        url = f"http://127.0.0.1:{_port(state, child, log)}"
        stop = threading.Event()
        acked: dict[str, list[str]] = {"decisions": [], "events": []}
        threads = [
            threading.Thread(target=_load, args=(url, w, stop, acked)) for w in range(WORKERS)
        ]
        for t in threads:
            t.start()
        time.sleep(6.0)  # long enough for the posterior to be written once
        os.killpg(child.pid, signal.SIGKILL)  # no chance to flush anything
        child.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert len(acked["decisions"]) > 200 and len(acked["events"]) > 400  # it was under load

    store = StateStore(state / "edge.db")
    assert store.integrity() == "ok"
    pseudo = Pseudonymizer.from_key_file(state / "node.key")
    event_keys = {k for (k,) in store._all("SELECT key FROM events")}
    assert {pseudo.pseudonym(f"event:{e}") for e in acked["events"]} <= event_keys
    decision_ids = {i for (i,) in store._all("SELECT id FROM decisions")}
    assert set(acked["decisions"]) <= decision_ids
    # Counters written with the rows agree with them: the policy learned exactly the
    # outcomes marked resolved, and every conversion belongs to a stored decision.
    models = [json.loads(s) for (s,) in store._all("SELECT state FROM models")]
    learned_by_model = models[0]["n"] if models else 0  # the posterior is written every 5 s
    learned = store._all(
        "SELECT count(*) FROM decisions WHERE context IS NOT NULL AND resolved = 1"
    )[0][0]
    assert learned_by_model == learned > 0
    assert (
        store._all(
            "SELECT count(*) FROM conversions WHERE decision_id NOT IN (SELECT id FROM decisions)"
        )[0][0]
        == 0
    )
    store.close()

    restarted = Runtime(state, "store-1", trust=None)
    assert restarted.stats()["decisions_by_version"] == {"v1": len(decision_ids)}
    again = restarted.observe_many([{"event_id": acked["events"][0], "ts": T0, "user": "x",
                                     "type": "view", "node": "store-1"}])  # fmt: skip
    assert again.duplicates == 1 and again.accepted == 0  # acknowledged before the crash
    restarted.close()

    serving = Runtime(state, "store-1", trust=TrustStore.from_directory(trust_dir))
    assert serving.reload_last() is not None
    assert serving.decide(DecisionRequest("cust-0-1", T0 + DAY)).bundle_version == "v1"
    assert serving.reports(int(T0 // DAY) + 1)
    serving.close()
