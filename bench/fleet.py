"""Fleet benchmark: 10,000 simulated nodes against one hub process on loopback (SQLite).

Each simulated node does what the sync agent does: POST /v1/heartbeats, whose answer
carries the node's assignment; when that differs from what it runs, it "swaps" and
heartbeats again at once (a sync is one round trip while nothing changes). Load comes
from a few client processes, each an asyncio loop over raw keep-alive HTTP/1.1
connections (a minimal client, so the clients spend little of the machine's two cores).
Phases, all bounded in time and count:

1. closed loop for ``--seconds``: as fast as the hub answers → ``heartbeats_per_s``;
2. open loop paced at ``--rate`` heartbeats/s (or 90 % of phase 1 if lower), latency
   measured from each request's scheduled time (no coordinated omission) →
   ``api_p99_ms`` over every request (each one a heartbeat and an assignment fetch);
3. a rollout of v2 over all 10,000 nodes in waves 1/10/50/100 % with soak shortened to
   one heartbeat and no soak time → ``rollout_10k_s`` from start to completed.

Prints one JSON object: {"bench": "fleet", "figures": {...}}.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing as mp
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ADMIN_TOKEN = "bench-admin-" + "0" * 20


# -- the load generator (runs in client processes) -------------------------------------------
class Conn:
    """One keep-alive HTTP/1.1 connection that sends a request and reads one response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def call(self, method: str, path: str, token: str, body: bytes = b"") -> bytes:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        status = int(status_and_headers[9:12])
        length = 0
        for line in status_and_headers.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        payload = await self.reader.readexactly(length)
        if status != 200:
            raise RuntimeError(f"{method} {path} -> {status}: {payload[:200]!r}")
        return payload


async def _node_cycle(conn: Conn, token: str, running: dict[str, str | None]) -> list[float]:
    """One sync as the agent does it: a heartbeat whose answer carries the assignment; when
    the assignment differs, "swap" and heartbeat again at once. Returns latencies in s."""
    took = []
    for _ in range(2):
        version = running.get(token)
        beat = {"active_version": version, "latency_p50_us": 80.0, "latency_p99_us": 300.0,
                "decisions_by_version": {version: 1000} if version else {}}  # fmt: skip
        t0 = time.perf_counter()
        answer = json.loads(await conn.call("POST", "/v1/heartbeats", token,
                                            json.dumps(beat).encode()))  # fmt: skip
        took.append(time.perf_counter() - t0)
        assigned = answer["assignment"]["version"]
        if assigned == version:
            break
        running[token] = assigned
    return took


async def _client(
    port: int,
    tokens: list[str],
    conns: int,
    seconds: float,
    rate: float,
    stop_file: str | None,
    running_version: str | None,
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    running: dict[str, str | None] = dict.fromkeys(tokens, running_version)
    beats = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(w: int) -> None:
        nonlocal beats
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = Conn(reader, writer)
        mine = tokens[w::conns]
        interval = conns / rate if rate > 0 else 0.0
        k = 0
        while time.perf_counter() < deadline and not (stop_file and os.path.exists(stop_file)):
            scheduled = start + (k + w / conns) * interval
            if interval:
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            began = time.perf_counter()
            try:
                took = await _node_cycle(conn, mine[k % len(mine)], running)
            except Exception as exc:  # record and go on: errors are a figure too
                errors.append(str(exc)[:200])
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                conn = Conn(reader, writer)
            else:
                lag = began - scheduled if interval else 0.0  # queueing before we could send
                took[0] += max(lag, 0.0)
                latencies.extend(took)
                beats += len(took)
            k += 1
        writer.close()

    await asyncio.gather(*(worker(w) for w in range(conns)))
    return {"beats": beats, "elapsed": time.perf_counter() - start,
            "latencies": latencies, "errors": errors[:5], "n_errors": len(errors)}  # fmt: skip


def _client_process(args: tuple[Any, ...], out: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out.put(asyncio.run(_client(*args)))


def run_load(
    port: int,
    tokens: list[str],
    procs: int,
    conns: int,
    seconds: float,
    rate: float,
    stop_file: str | None = None,
    running: str | None = "v1",
) -> dict[str, Any]:
    """Simulated nodes (``running``: the version they run at the start) for ``seconds``;
    ``rate`` heartbeats/s in all (0: as fast as the hub answers)."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    shares = [tokens[p::procs] for p in range(procs)]
    workers = [
        ctx.Process(target=_client_process,
                    args=((port, share, conns, seconds, rate / procs, stop_file, running), out))
        for share in shares
    ]  # fmt: skip
    for w in workers:
        w.start()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    lat = np.concatenate([np.asarray(r["latencies"]) for r in results]) * 1000
    elapsed = max(r["elapsed"] for r in results)
    return {
        "beats": sum(r["beats"] for r in results), "elapsed_s": elapsed,
        "heartbeats_per_s": sum(r["beats"] for r in results) / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "errors": sum(r["n_errors"] for r in results),
        "error_samples": [e for r in results for e in r["errors"]][:3],
    }  # fmt: skip


# -- set-up: database, hub process, bundles ---------------------------------------------------
def make_fleet(db_url: str, n: int) -> list[str]:
    """Create ``n`` enrolled nodes directly in a migrated database; return their tokens."""
    from sqlalchemy import insert

    from edgemark.hub import upgrade_database
    from edgemark.hub._db import Node, create_engine_for

    engine = create_engine_for(db_url)
    upgrade_database(engine)
    tokens = [f"emn_bench{i:05d}_{secrets.token_urlsafe(16)}" for i in range(n)]
    rows = [{"id": f"node-{i:05d}", "name": f"store-{i:05d}", "enrolled_at": time.time(),
             "token_sha256": hashlib.sha256(t.encode()).hexdigest(), "heartbeats": 0,
             "decisions_by_version": {}} for i, t in enumerate(tokens)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(Node), rows)
    engine.dispose()
    return tokens


def make_bundle(root: Path, version: str) -> bytes:
    from edgemark.bundle import build_bundle, generate_keypair, load_signing_key, pack_bundle

    key_path = root / "keys" / "bench.key"
    if not key_path.exists():
        generate_keypair(root / "keys", "bench")
    model = root / f"model-{version}.onnx"
    model.write_bytes(version.encode() * 100)
    out = build_bundle(
        root / f"bundle-{version}", name="bench", version=version, files={"model.onnx": model},
        feature_spec_hash="0" * 64, offers=[{"id": "o1", "name": "o1", "discount": 0.1,
                                              "cost": 1.0}],
        policy={"experiment": "e", "salt": "s", "holdout_share": 0.1}, metrics={},
        signing_key=load_signing_key(key_path), key_id="bench",
    )  # fmt: skip
    return pack_bundle(out)


def start_hub(root: Path, db_url: str) -> tuple[subprocess.Popen[bytes], int]:
    port_file = root / "hub.port"
    env = {**os.environ, "EDGEMARK_ADMIN_TOKEN": ADMIN_TOKEN, "EDGEMARK_HUB_DB": db_url,
           "EDGEMARK_HUB_BUNDLES": str(root / "bundles"),
           "EDGEMARK_HUB_RATE_LIMIT": "1000000"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgemark", "hub", "serve", "--port", "0", "--port-file",
         str(port_file), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(root / "hub.log", "wb"),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not port_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"hub did not start: {(root / 'hub.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rollout_time(port: int, tokens: list[str], procs: int, conns: int, limit_s: float,
                 root: Path) -> tuple[float | None, list[str]]:  # fmt: skip
    from edgemark.hub import AdminClient

    stop_file = str(root / "rollout.done")
    ctx = mp.get_context("spawn")
    admin = AdminClient(f"http://127.0.0.1:{port}", ADMIN_TOKEN, timeout=60)
    load_args = (port, tokens, procs, conns, limit_s + 30, 0.0, stop_file)
    loader = ctx.Process(target=run_load, args=load_args)
    loader.start()
    time.sleep(5.0)  # let the client processes start and reach full speed first
    started = time.perf_counter()
    rollout = admin.create_rollout("v2", [1, 10, 50, 100], soak_heartbeats=1)
    done: float | None = None
    state = rollout["state"]
    while time.perf_counter() - started < limit_s and state == "in_progress":
        time.sleep(0.2)
        state = admin.rollout(rollout["id"])["state"]
    if state == "completed":
        done = time.perf_counter() - started
    Path(stop_file).touch()
    loader.join(timeout=120)
    events = [e["what"] for e in admin.rollout(rollout["id"])["events"]]
    admin.close()
    return done, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--rollout-limit", type=float, default=90.0)
    args = parser.parse_args()
    from edgemark.hub import AdminClient

    with tempfile.TemporaryDirectory(prefix="edgemark-fleet-") as tmp:
        root = Path(tmp)
        db_url = f"sqlite:///{root / 'hub.db'}"
        tokens = make_fleet(db_url, args.nodes)
        hub, port = start_hub(root, db_url)
        try:
            with AdminClient(f"http://127.0.0.1:{port}", ADMIN_TOKEN, timeout=60) as admin:
                for version in ("v1", "v2"):
                    admin.upload_bundle(make_bundle(root, version))
                admin.create_rollout("v1", [100], soak_heartbeats=1)
            run_load(port, tokens, args.procs, args.conns, 8.0, 0.0, running=None)  # warm-up:
            # every node learns v1 from its first heartbeat's answer and reports it running
            cpu0 = cpu_seconds(hub.pid)
            closed = run_load(port, tokens, args.procs, args.conns, args.seconds, 0.0)
            hub_cpu_us = (cpu_seconds(hub.pid) - cpu0) / max(closed["beats"], 1) * 1e6
            paced_rate = min(args.rate, 0.9 * closed["heartbeats_per_s"])
            paced = run_load(port, tokens, args.procs, 4 * args.conns, args.seconds, paced_rate)
            took, events = rollout_time(port, tokens, args.procs, args.conns,
                                        args.rollout_limit, root)  # fmt: skip
        finally:
            hub.terminate()
            hub.wait(timeout=30)
    figures = {
        "heartbeats_per_s": round(closed["heartbeats_per_s"], 1),
        "api_p99_ms": round(paced["p99_ms"], 2) if paced["p99_ms"] is not None else None,
        "rollout_10k_s": round(took, 2) if took is not None else None,
        "nodes": args.nodes,
        "api_p99_at_heartbeats_per_s": round(paced["heartbeats_per_s"], 1),
        "api_p50_ms": round(paced["p50_ms"], 2) if paced["p50_ms"] is not None else None,
        "closed_loop_p99_ms": round(closed["p99_ms"], 2) if closed["p99_ms"] else None,
        "hub_cpu_us_per_heartbeat": round(hub_cpu_us, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "requests_per_heartbeat": 1,
        "errors": closed["errors"] + paced["errors"],
        "error_samples": closed["error_samples"] + paced["error_samples"],
        "rollout_events": events,
        "database": "sqlite",
        "client_processes": args.procs,
        "connections_per_process": args.conns,
        "cpus": os.cpu_count(),
    }
    print(json.dumps({"bench": "fleet", "figures": figures}))


if __name__ == "__main__":
    main()
