"""Bench: server time of every console page with 10,000 nodes and 1,000 rollouts, and decide()
P99 with tracing off and on.

Seeds a SQLite hub database in bulk (10,000 nodes with heartbeat figures, 1,000 finished
rollouts with their history and one in progress over every node, an audit chain of
~13,000 entries, 90,000 DP report rows, 20 bundles), serves it with uvicorn on loopback,
logs in to the console and reads each page's ``Server-Timing`` (time inside the app, the
figure the 300 ms target is about). Then loads the decide bench's model into a Runtime
and times ``decide`` wrapped in ``observe.span`` (agreement C: around the call, never
inside), first with tracing off (the shared no-op), then with the SDK recording every span
through a batch processor. Prints {"bench": "console", "figures": {...}}.
"""

from __future__ import annotations

import gc
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from edgemark.hub import HubSettings, Secret, ServerThread, _audit, _migrate
from edgemark.hub._db import (
    AuditEntry,
    AuditHead,
    Bundle,
    Node,
    Report,
    Rollout,
    RolloutEvent,
    RolloutMember,
    create_engine_for,
    session_factory,
)  # fmt: skip
from edgemark.hub._sql import table_of

N_NODES = 10_000
N_ROLLOUTS = 1_000
REPEATS = 15
TOKEN = "bench-admin-token-0123456789"
PAGES = ("fleet", "fleet?page=120", "fleet?order=p99", "rollouts", "rollouts?page=30", "rollout",
         "experiments",
         "privacy", "audit", "audit?page=200", "bundles", "bundle")  # fmt: skip


def _insert(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 2000):
        session.execute(table_of(model).insert(), rows[start : start + 2000])


def _seed(url: str, bundle_file: Path) -> str:
    engine = create_engine_for(url)
    _migrate.upgrade(engine)
    rng = np.random.default_rng(3)
    now = time.time()
    with session_factory(engine)() as s:
        ids = [f"node-{i:012x}" for i in range(N_NODES)]
        _insert(s, Node, [
            {"id": n, "name": f"store-{i:05d}", "token_sha256": secrets.token_hex(32),
             "enrolled_at": now - 86400, "active_version": "v19", "heartbeats": 100,
             "last_heartbeat": now - float(rng.uniform(0, 600)), "decisions_by_version": {},
             "latency_p50_us": 50.0, "latency_p99_us": float(rng.gamma(4, 80)),
             "h_version": "v19", "h_decisions": 5000, "h_errors": int(rng.integers(0, 5)),
             "h_p99_us": float(rng.gamma(4, 80)), "h_psi": float(rng.uniform(0, 0.3))}
            for i, n in enumerate(ids)
        ])  # fmt: skip
        _insert(s, Bundle, [{"version": f"v{i}", "sha256": "0" * 64, "key_id": "k1",
                             "created": now - 1000 + i, "size": bundle_file.stat().st_size,
                             "path": str(bundle_file)} for i in range(20)])  # fmt: skip
        rollouts, events = [], []
        for seq in range(1, N_ROLLOUTS + 2):
            active = seq == N_ROLLOUTS + 1
            rid = f"rollout-{seq}-{seq:06x}"
            rollouts.append({
                "id": rid, "seq": seq, "version": f"v{seq % 20}", "waves": [1, 10, 50, 100],
                "wave_sizes": [100, 1000, 5000, N_NODES], "min_nodes": 20,
                "current_wave": 1 if active else 3,
                "state": "in_progress" if active else ("completed", "rolled_back")[seq % 7 == 0],
                "soak_heartbeats": 3, "soak_seconds": 0.0, "gates": {"enabled": True},
                "baseline": {}, "last_gates": [{"gate": g, "status": "pass", "wave": 0.01,
                                                "rest": 0.01, "detail": "ok"}
                                               for g in ("error_rate", "decide_p99")],
                "created": now - 86400 + seq, "created_by": "bench", "updated": now,
                "wave_started": now, "pending": 0, "previous_version": "v1",
            })  # fmt: skip
            events += [{"rollout_id": rid, "ts": now + k, "what": f"wave {k + 1} of 4 started"}
                       for k in range(3)]  # fmt: skip
        _insert(s, Rollout, rollouts)
        _insert(s, RolloutEvent, events)
        active_id = rollouts[-1]["id"]
        members = [{"rollout_id": active_id, "node_id": n, "wave": i % 4, "healthy_heartbeats": 0}
                   for i, n in enumerate(ids)]  # fmt: skip
        _insert(s, RolloutMember, members)
        _insert(s, Report, [
            {"idempotency_key": f"{n}-{d}-{a}", "node_id": n, "day": d, "experiment": "exp1",
             "arm": a, "exposures": 40, "conversions": int(rng.binomial(40, p)),
             "revenue": 100.0, "epsilon": 0.5, "count_noise_scale": 2.0,
             "revenue_noise_scale": 50.0, "received_at": now}
            for n in ids for d in range(3) for a, p in (("holdout", 0.08), ("pct10", 0.11),
                                                        ("pct20", 0.09))
        ])  # fmt: skip
        _audit_chain(s, ids, [r["id"] for r in rollouts], now)
        s.commit()
    engine.dispose()
    return active_id


def _audit_chain(s: Any, node_ids: list[str], rollout_ids: list[str], now: float) -> None:
    prev, rows = _audit.GENESIS, []
    targets = [("node.enrol", n) for n in node_ids] + [
        (a, r) for r in rollout_ids for a in ("rollout.start", "rollout.completed", "bundle.upload")
    ]
    for seq, (action, target) in enumerate(targets, start=1):
        fields = {"seq": seq, "ts": now, "actor": "bench", "action": action, "target": target,
                  "details": "{}"}  # fmt: skip
        digest = _audit.entry_hash(prev, fields)
        rows.append({**fields, "prev_hash": prev, "hash": digest})
        prev = digest
    _insert(s, AuditEntry, rows)
    s.add(AuditHead(id=1, seq=len(rows), hash=prev))


def _bundle_file(root: Path) -> Path:
    from edgemark.bundle import build_bundle, generate_keypair, load_signing_key, pack_bundle

    key, _ = generate_keypair(root / "keys", "k1")
    (root / "model.onnx").write_bytes(b"model")
    out = build_bundle(root / "bundle", name="propensity", version="v19",
                       files={"model.onnx": root / "model.onnx"}, feature_spec_hash="0" * 64,
                       offers=[], policy={}, metrics={"auc_test": 0.7},
                       signing_key=load_signing_key(key), key_id="k1")  # fmt: skip
    path = root / "v19.tar.gz"
    path.write_bytes(pack_bundle(out))
    return path


def _server_ms(client: httpx.Client, path: str) -> float:
    r = client.get(path)
    if r.status_code != 200:
        raise SystemExit(f"{path} answered {r.status_code}: {r.text[:300]}")
    return float(r.headers["server-timing"].split("dur=")[1])


def _pages(root: Path) -> dict[str, Any]:
    url = f"sqlite:///{root / 'hub.db'}"
    active = _seed(url, _bundle_file(root))
    settings = HubSettings(Secret(TOKEN), database_url=url, bundle_dir=root / "bundles",
                           rate_limit_per_s=10_000, rate_limit_burst=10_000)  # fmt: skip
    figures: dict[str, Any] = {}
    with ServerThread(settings) as hub, httpx.Client(base_url=hub.url, timeout=60) as client:
        client.post("/console/login", data={"token": TOKEN})
        for page in PAGES:
            path = {"rollout": f"rollouts/{active}", "bundle": "bundles/v19"}.get(page, page)
            times = [_server_ms(client, f"/console/{path}") for _ in range(REPEATS + 1)]
            p50, p95 = np.percentile(times[1:], [50, 95])
            key = page.replace("?page=", "_p").replace("?order=", "_by_")
            figures[f"{key}_p50_ms"], figures[f"{key}_p95_ms"] = round(p50, 1), round(p95, 1)
            figures[f"{key}_first_ms"] = round(times[0], 1)  # cold: nothing computed yet
    return figures


def _decide(root: Path) -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).parent))
    import decide as decide_bench  # the decide bench's model, bundle and customer histories
    from edgemark.edge import DecisionRequest, Runtime
    from edgemark.observe import TracingSettings, configure_tracing, shutdown_tracing, span

    sys.setswitchinterval(decide_bench.SWITCH_INTERVAL_S)
    rng = np.random.default_rng(1)
    bundle, trust = decide_bench._bundle(root, decide_bench._model(root))
    runtime = Runtime(root / "node", "store-1", trust=trust, key=b"b" * 32)
    runtime.load(bundle)
    decide_bench._histories(runtime, rng)
    runtime.flush()
    users = rng.integers(decide_bench.N_USERS, size=40_000)
    requests = [
        DecisionRequest(f"cust-{u}", decide_bench.T0 + i * 0.5) for i, u in enumerate(users)
    ]

    def timed(batch: list[Any]) -> list[float]:
        out = []
        for request in batch:
            t = time.perf_counter_ns()
            with span("edge.decide"):
                runtime.decide(request)
            out.append((time.perf_counter_ns() - t) / 1000)
        return out

    timed(requests[:4000])  # warm-up
    gc.collect()
    off, on = [], []
    for block in range(4):  # alternate blocks so load drifts hit both the same way
        part = requests[4000 + block * 9000 : 4000 + (block + 1) * 9000]
        off += timed(part[:4500])
        configure_tracing(TracingSettings(service_name="bench"), exporter=_DropExporter())
        on += timed(part[4500:])
        shutdown_tracing()
    runtime.close()
    return {
        "decide_p99_us_tracing_off": round(float(np.percentile(off, 99)), 1),
        "decide_p99_us_tracing_on": round(float(np.percentile(on, 99)), 1),
        "decide_p50_us_tracing_off": round(float(np.percentile(off, 50)), 1),
        "decide_p50_us_tracing_on": round(float(np.percentile(on, 50)), 1),
    }


class _DropExporter:
    """A span exporter that accepts and drops spans (what a collector costs is not ours)."""

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        figures = _pages(Path(tmp) / "hub")
        figures["console_p95_ms_max"] = max(v for k, v in figures.items() if k.endswith("_p95_ms"))
        figures.update(_decide(Path(tmp) / "edge"))
    figures["nodes"], figures["rollouts"] = N_NODES, N_ROLLOUTS
    figures["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps({"bench": "console", "figures": figures}))


if __name__ == "__main__":
    main()
