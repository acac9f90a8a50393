"""Bench: Runtime.decide latency and throughput vs. the raw ONNX Runtime call on the same model.

Builds a real signed bundle (LightGBM on a synthetic frame over the full feature spec →
ONNX) with the contextual policy, guardrails on every offer, two further concurrent
experiments and drift references; loads it into a Runtime with its background maintenance
thread running, gives users event histories, warms up, then times decisions and as many
raw ``session.run`` calls on the same model in the same process.
Prints one JSON object: {"bench": "decide", "figures": {...}}.
"""

# ruff: noqa: E402  (the thread settings below must come before numpy is imported)

from __future__ import annotations

import os

# As a node process (edgemark edge serve/run) is set up: one BLAS thread (must precede the
# numpy import) and a 0.5 ms GIL switch interval (set in main()).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
SWITCH_INTERVAL_S = 0.0005

import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.bundle import TrustStore, build_bundle, generate_keypair, load_signing_key
from edgemark.edge import DecisionRequest, Runtime
from edgemark.events import Event
from edgemark.features import DEFAULT_SPEC
from edgemark.models import OnnxScorer, export_onnx, train_propensity

N_USERS = 2000
N_DECISIONS = 20_000
WARMUP = 3000
T0 = 20_460 * 86400.0
EVENT_TYPES = ("view", "view", "view", "add_to_cart", "purchase")
OFFERS = ("pct10", "bogo", "freeship")


def _model(root: Path) -> Path:
    import pandas as pd

    rng = np.random.default_rng(0)
    names = list(DEFAULT_SPEC.names)
    n = 5000
    x = rng.gamma(1.0, 2.0, size=(n, len(names)))
    logit = -2.0 + 0.5 * x[:, 1] + 0.2 * x[:, min(5, len(names) - 1)] - 0.05 * x[:, 0]
    frame = pd.DataFrame(x, columns=names)
    frame.insert(0, "user", [f"u{i}" for i in range(n)])
    frame.insert(1, "label_time", T0 + np.arange(n) * 60.0)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = train_propensity(frame, names, seed=0)  # default params: 100 trees
    return export_onnx(model, root / "model.onnx")


def _policy() -> dict[str, Any]:
    edges = [0.5, 2.5, 6.5]
    return {
        "experiment": "bench",
        "salt": "s",
        "holdout_share": 0.1,
        "explore_share": 0.2,
        "lookback_hours": 24.0,
        "epsilon_per_report": 1.0,
        "max_contributions_per_user": 2,
        "revenue_cap": 200.0,
        "prior_alpha": 1.0,
        "prior_beta": 1.0,
        "policy": "contextual",
        "guardrails": {
            "rate_limit": {"max_decisions": 50, "window_seconds": 3600},
            "offers": {
                "*": {"max_per_user": 20, "window_hours": 168, "daily_budget": 1_000_000},
                "freeship": {
                    "requires_consent": ["personalization"],
                    "eligible": {"min_score": 0.0, "max_score": 1.0},
                },
            },
        },
        "experiments": [
            {"name": "ship-campaign", "salt": "s2", "holdout_share": 0.2, "offers": ["freeship"]},
            {"name": "bogo-test", "salt": "s3", "holdout_share": 0.1, "offers": ["bogo"]},
        ],
        "_drift": {"edges": edges},
    }


def _bundle(root: Path, model: Path) -> tuple[Path, TrustStore]:
    generate_keypair(root / "keys", "bench")
    policy = _policy()
    edges = policy.pop("_drift")["edges"]
    reference = {
        "features": {
            n: {"edges": edges, "fractions": [0.4, 0.3, 0.2, 0.1]} for n in DEFAULT_SPEC.names
        },
        "score": {"edges": [0.1, 0.3, 0.6], "fractions": [0.3, 0.3, 0.3, 0.1]},
    }
    bundle = build_bundle(
        root / "bundle",
        name="propensity",
        version="bench-1",
        files={"model.onnx": model},
        feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        offers=[{"id": o, "name": o, "discount": 0.1, "cost": 1.0} for o in OFFERS],
        policy=policy,
        metrics={},
        signing_key=load_signing_key(root / "keys" / "bench.key"),
        key_id="bench",
        extra={"reference_histograms": reference},
    )
    return bundle, TrustStore.from_directory(root / "keys")


def _histories(runtime: Runtime, rng: np.random.Generator) -> None:
    events = []
    for u in range(N_USERS):
        for k in range(int(rng.integers(5, 40))):
            kind = EVENT_TYPES[int(rng.integers(len(EVENT_TYPES)))]
            ts = T0 - float(rng.uniform(0, 60 * 86400))
            amount = float(rng.gamma(2.0, 20.0)) if kind == "purchase" else None
            consent = {"consent_personalization": True, "consent_measurement": True}
            events.append(Event(f"h{u}-{k}", ts, f"cust-{u}", kind, "store-1", amount=amount,
                                **consent))  # fmt: skip
    runtime.observe_many(events)


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    p50, p95, p99 = np.percentile(np.asarray(values), [50, 95, 99])
    return float(p50), float(p95), float(p99)


def _time_decide(
    runtime: Runtime, requests: list[DecisionRequest]
) -> tuple[list[float], list[float], float, float]:
    """Wall and thread-CPU microseconds per decide, wall seconds and process CPU seconds."""
    wall_us: list[float] = []
    cpu_us: list[float] = []
    began, cpu_began = time.perf_counter(), time.process_time()
    for request in requests:
        c = time.thread_time_ns()
        t = time.perf_counter_ns()
        runtime.decide(request)
        wall_us.append((time.perf_counter_ns() - t) / 1000)
        cpu_us.append((time.thread_time_ns() - c) / 1000)
    return wall_us, cpu_us, time.perf_counter() - began, time.process_time() - cpu_began


def _time_ort(scorer: OnnxScorer, rng: np.random.Generator) -> list[float]:
    session = scorer._session  # the raw ORT session, same model, same thread settings
    feed = {scorer.input_name: rng.gamma(1.0, 2.0, size=(1, scorer.n_features)).astype(np.float32)}
    outputs = [scorer.output_name]
    for _ in range(WARMUP):
        session.run(outputs, feed)
    ort_us: list[float] = []
    for _ in range(N_DECISIONS):
        t = time.perf_counter_ns()
        session.run(outputs, feed)
        ort_us.append((time.perf_counter_ns() - t) / 1000)
    return ort_us


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = _model(root)
        bundle, trust = _bundle(root, model)
        runtime = Runtime(root / "node", "store-1", trust=trust, key=b"b" * 32)
        runtime.load(bundle)
        _histories(runtime, rng)
        runtime.flush()
        users = rng.integers(N_USERS, size=N_DECISIONS + WARMUP)
        requests = [
            DecisionRequest(f"cust-{u}", T0 + i * 0.5, context={"channel": "pos"})
            for i, u in enumerate(users)
        ]
        for request in requests[:WARMUP]:
            runtime.decide(request)
        gc.collect()
        decide_us, cpu_us, wall, cpu_s = _time_decide(runtime, requests[WARMUP:])
        internal = runtime.stats()
        ort_us = _time_ort(OnnxScorer(model), rng)
        runtime.close()

    d50, d95, d99 = _percentiles(decide_us)
    c50, _c95, c99 = _percentiles(cpu_us)
    o50, _o95, o99 = _percentiles(ort_us)
    figures = {
        "decide_p50_us": round(d50, 2),
        "decide_p95_us": round(d95, 2),
        "decide_p99_us": round(d99, 2),
        "ort_p50_us": round(o50, 2),
        "ort_p99_us": round(o99, 2),
        "decide_over_ort_p99": round(d99 / o99, 2),
        "decide_over_ort_p50": round(d50 / o50, 2),
        # One core = one CPU-second per second: decisions per CPU-second of the whole
        # process (decide thread and maintenance thread), so other load on the machine
        # does not count against it; the wall-clock rate is next to it.
        "decisions_per_s": round(N_DECISIONS / cpu_s),
        "decisions_per_s_wall": round(N_DECISIONS / wall),
        "decide_cpu_p50_us": round(c50, 2),
        "decide_cpu_p99_us": round(c99, 2),
        "runtime_reported_p50_us": round(internal["latency_p50_us"], 2),
        "runtime_reported_p99_us": round(internal["latency_p99_us"], 2),
        "n_decisions": N_DECISIONS,
        "n_users": N_USERS,
        "n_features": len(DEFAULT_SPEC.names),
        "n_trees": 100,
        "policy": "contextual, 3 offers + none, 32 posterior draws",
        "guardrails": "rate limit, frequency cap, daily budget, consent, eligibility",
        "experiments": 3,
        "python": sys.version.split()[0],
        "switch_interval_s": SWITCH_INTERVAL_S,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps({"bench": "decide", "figures": figures}))


if __name__ == "__main__":
    main()
