"""Benchmark of the events and features planes (issue 3).

* Training frame from 10 million simulated events (numpy straight into a Parquet log part,
  visits of about five events): all features of the library, weekly label times for every
  user. Runs in a child process, so ``frame_peak_rss_mb`` is that process's peak RSS.
* Online engine: P99 of one ``update`` over a simulated retail history, state bytes per user
  (in memory, and compressed in the SQLite store), ``vector`` timings (the decision hot path).
* Ingestion of a 1-million-row CSV with 1% bad rows.

Prints one JSON object: {"bench": "features", "figures": {...}}. ``--quick`` runs a tenth of
the sizes (for a smoke test).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import timeit
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

DAY = 86400.0
START = 20_454 * DAY  # 2026-01-01 00:00 UTC
FRAME_EVENTS = 10_000_000
FRAME_USERS = 100_000
FRAME_DAYS = 91
INGEST_ROWS = 1_000_000


# -- frame ---------------------------------------------------------------------------------
def write_events(root: Path, n: int, users: int, days: int, seed: int = 0) -> int:
    """About ``n`` events (visits of 1 + Poisson(4) events, 30 s apart) as one log part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    visits = n // 5
    weights = rng.lognormal(0.0, 1.0, users)
    vuser = rng.choice(users, size=visits, p=weights / weights.sum())
    vts = START + np.floor(rng.random(visits) * days) * DAY + rng.uniform(8, 21, visits) * 3600
    size = 1 + rng.poisson(4, visits)
    ends = np.cumsum(size)
    step = np.arange(int(ends[-1])) - np.repeat(ends - size, size)
    ts = np.repeat(vts, size) + 30.0 * step
    kinds = rng.choice(np.array([0, 0, 0, 0, 1, 4], dtype=np.int32), size=len(ts))
    kinds[ends - 1] = np.where(rng.random(visits) < 0.3, 2, 1)  # purchase or cart last
    kinds[ends - size] = np.where(rng.random(visits) < 0.5, 3, 0)  # exposure first
    kinds[ends - 2] = np.where((size > 2) & (rng.random(visits) < 0.1), 5, kinds[ends - 2])
    order = np.argsort(ts, kind="stable")
    ts, users_idx, kinds = ts[order], np.repeat(vuser, size)[order], kinds[order]
    m = len(ts)
    flags = rng.random(m) < 0.97

    def coded(codes: Any, names: list[str]) -> Any:
        return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(names))

    offered = (kinds == 3) | (kinds == 5)
    types = ["view", "add_to_cart", "purchase", "exposure", "click", "redeem"]
    cats = ["grocery", "home", "beauty", "fashion", "electronics", "toys", "garden", "sport"]
    table = pa.table(
        {
            "event_id": pa.array(np.arange(m)).cast(pa.string()),
            "ts": ts,
            "user": coded(users_idx, [f"u_{i:08x}" for i in range(users)]),
            "type": coded(kinds, types),
            "node": coded(np.zeros(m, np.int32), ["store-1"]),
            "channel": coded(np.zeros(m, np.int32), ["store"]),
            "item": pa.nulls(m, pa.string()),
            "category": coded(rng.integers(0, len(cats), m), cats),
            "amount": pa.array(
                np.where(kinds == 2, np.round(rng.lognormal(3, 0.6, m), 2), np.nan),
                from_pandas=True,
            ),
            "offer": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(m, np.int32), mask=~offered), pa.array(["pct10"])
            ),
            "consent_personalization": flags,
            "consent_measurement": flags,
            "consent_training": flags,
            "arrival_lag_s": np.zeros(m),  # written in time order: nothing arrived late
        }
    )
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, root / f"part-000000-{'0' * 32}.parquet", row_group_size=1 << 20)
    return m


def frame_child(log_dir: str, days: int) -> None:
    """Build the frame (in this child process) and print its figures as JSON."""
    from edgemark.events import EventLog
    from edgemark.features import DEFAULT_SPEC, build_training_frame

    times = [START + 7 * k * DAY for k in range(1, (days - 7) // 7 + 1)]
    began = time.perf_counter()
    frame = build_training_frame(EventLog(log_dir), DEFAULT_SPEC, times, horizon_days=7)
    seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"seconds": seconds, "rows": len(frame), "label_times": len(times)}
    figures.update(peak_rss_mb=peak, positive_rate=float(frame["label"].mean()))
    print(json.dumps(figures))


def bench_frame(work: Path, scale: float) -> dict[str, Any]:
    n = int(FRAME_EVENTS * scale)
    began = time.perf_counter()
    events = write_events(work / "log", n, int(FRAME_USERS * scale), FRAME_DAYS)
    generated = time.perf_counter() - began
    child = subprocess.run(
        [sys.executable, __file__, "--frame-child", str(work / "log"), str(FRAME_DAYS)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "frame_events_per_s": round(events / result["seconds"]),
        "frame_peak_rss_mb": round(result["peak_rss_mb"], 1),
        "frame_events": events,
        "frame_rows": result["rows"],
        "frame_seconds": round(result["seconds"], 2),
        "frame_label_times": result["label_times"],
        "frame_positive_rate": round(result["positive_rate"], 4),
        "frame_generate_seconds": round(generated, 2),
    }


# -- online --------------------------------------------------------------------------------
def bench_online(work: Path, scale: float) -> dict[str, Any]:
    from edgemark.features import DEFAULT_SPEC, FeatureStore, OnlineFeatures
    from edgemark.sim import RetailWorld, SimConfig

    config = SimConfig(customers=max(200, int(3000 * scale)), days=90, seed=3)
    events = sorted(RetailWorld(config).history(config.days), key=lambda e: e.ts)
    online = OnlineFeatures(DEFAULT_SPEC)
    timings = np.empty(len(events))
    clock = time.perf_counter_ns
    for i, e in enumerate(events):
        start = clock()
        online.update_event(e)
        timings[i] = clock() - start
    tracemalloc.start()  # a second replay, for memory only (tracing slows every allocation)
    before = tracemalloc.get_traced_memory()[0]
    replayed = OnlineFeatures(DEFAULT_SPEC)
    replayed.replay(events)
    in_memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del replayed
    users = online.users()
    with FeatureStore(work / "features.db", DEFAULT_SPEC) as store:
        store.save(online)
        stored = store.bytes_per_user()
    figures: dict[str, Any] = {
        "online_update_p99_us": round(float(np.percentile(timings, 99)) / 1000, 3),
        "state_bytes_per_user": round(in_memory / len(users)),
        "online_update_p50_us": round(float(np.percentile(timings, 50)) / 1000, 3),
        "online_events": len(events),
        "online_users": len(users),
        "state_bytes_per_user_stored": round(stored),
        "features": len(DEFAULT_SPEC.names),
    }
    figures.update(bench_vector(online, events[-1].ts + 3600.0))
    figures.update(bench_zoned(online, events, events[-1].ts + 3600.0))
    return figures


def bench_zoned(online: Any, events: list[Any], now: float) -> dict[str, Any]:
    """The read in a DST zone (Europe/Berlin) against UTC: the same users and time, and the
    hour/weekday step alone (kept offset, or a zoneinfo lookup per read as a yardstick)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from edgemark.features import DEFAULT_SPEC, FeatureSpec, OnlineFeatures
    from edgemark.features._local import LocalTime

    zoned = OnlineFeatures(FeatureSpec(DEFAULT_SPEC.features, timezone="Europe/Berlin"))
    zoned.replay(events)
    users = sorted(online.users(), key=lambda u: len(online.state_of(u)["rows"]))
    median_user = users[len(users) // 2]
    berlin = ZoneInfo("Europe/Berlin")
    env = {"o": online, "z": zoned, "u": median_user, "now": now, "dt": datetime, "tz": berlin}
    env["fixed"] = LocalTime(None, 0.0).context
    env["kept"] = LocalTime("Europe/Berlin", 0.0).context
    figures: dict[str, Any] = {}
    for name, stmt, unit in (
        ("vector_median_utc_us", "o.vector(u, now)", 1e6),
        ("vector_median_berlin_us", "z.vector(u, now)", 1e6),
        ("context_utc_ns", "fixed(now)", 1e9),
        ("context_berlin_ns", "kept(now)", 1e9),
        ("context_zoneinfo_per_read_ns", "dt.fromtimestamp(now, tz).utcoffset()", 1e9),
    ):
        runs = timeit.repeat(stmt, globals=env, number=20000, repeat=7)
        figures[name] = round(min(runs) / 20000 * unit, 3)
    return figures


def bench_vector(online: Any, now: float) -> dict[str, Any]:
    """The former bench/features_vector.py figures: vector() on the decision hot path."""
    from edgemark.features import DEFAULT_SPEC

    users = sorted(online.users(), key=lambda u: len(online.state_of(u)["rows"]))
    median_user, heaviest_user = users[len(users) // 2], users[-1]
    out = np.empty(len(DEFAULT_SPEC.names), dtype=np.float32)
    figures: dict[str, Any] = {
        "median_user_buckets": len(online.state_of(median_user)["rows"]),
        "heaviest_user_buckets": len(online.state_of(heaviest_user)["rows"]),
    }
    for label, user in (("median", median_user), ("heaviest", heaviest_user), ("unknown", "-")):
        env = {"o": online, "u": user, "now": now, "out": out}
        for name, stmt in (
            ("vector", "o.vector(u, now)"),
            ("vector_into", "o.vector_into(u, now, out)"),
        ):
            runs = timeit.repeat(stmt, globals=env, number=2000, repeat=5)
            figures[f"{name}_{label}_us"] = round(min(runs) / 2000 * 1e6, 3)
    sample = users[:: max(1, len(users) // 500)]
    clock = time.perf_counter_ns
    lat = []
    for _ in range(5):
        for user in sample:
            start = clock()
            online.vector(user, now)
            lat.append(clock() - start)
    figures["vector_p50_us"] = round(float(np.percentile(lat, 50)) / 1000, 3)
    figures["vector_p99_us"] = round(float(np.percentile(lat, 99)) / 1000, 3)
    return figures


# -- ingest --------------------------------------------------------------------------------
def bench_ingest(work: Path, scale: float) -> dict[str, Any]:
    from edgemark.events import EventLog, Pseudonymizer, ingest_file

    n = int(INGEST_ROWS * scale)
    rng = np.random.default_rng(1)
    src = work / "export.csv"
    kinds = rng.choice(["view", "view", "add_to_cart", "purchase"], size=n)
    bad = rng.random(n) < 0.01
    with src.open("w") as handle:
        handle.write("event_id,ts,user,type,node,category,amount,consent_personalization\n")
        for i in range(n):
            kind, amount = str(kinds[i]), ("12.50" if kinds[i] == "purchase" else "")
            ts = f"{START + i:.0f}"
            if bad[i]:  # one of four kinds of bad row
                kind, ts, amount = [("like", ts, amount), (kind, "soon", amount),
                                    ("purchase", ts, "-3"), (kind, ts, "x,y")][i % 4]  # fmt: skip
            handle.write(f"e{i},{ts},cust-{i % 50_000:06d},{kind},s1,home,{amount},true\n")
    began = time.perf_counter()
    result = ingest_file(src, EventLog(work / "ingest-log"), Pseudonymizer(b"b" * 32),
                         work / "quarantine", now=START + n + 1)  # fmt: skip
    seconds = time.perf_counter() - began
    assert result.read == result.accepted + result.quarantined == n
    return {
        "ingest_rows_per_s": round(n / seconds),
        "ingest_rows": n,
        "ingest_quarantined": result.quarantined,
        "ingest_seconds": round(seconds, 2),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--frame-child":
        frame_child(sys.argv[2], int(sys.argv[3]))
        return
    scale = 0.1 if "--quick" in sys.argv else 1.0
    figures: dict[str, Any] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="edgemark-bench-") as tmp:
        work = Path(tmp)
        figures.update(bench_frame(work / "frame", scale))
        figures.update(bench_online(work, scale))
        figures.update(bench_ingest(work, scale))
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps({"bench": "features", "figures": figures}))


if __name__ == "__main__":
    main()
