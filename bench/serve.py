"""Bench: the local HTTP API of ``edgemark edge serve`` against the usual cloud way.

Edge: the bundle of bench/decide.py (contextual policy, guardrails, three experiments)
served by ``edgemark edge serve`` in its own process; POST /v1/decide with one request per
call over a keep-alive connection on loopback (P50/P99), and requests/s with 8 concurrent
keep-alive clients (8 client processes). Every answered decision is committed to SQLite
before the answer, as in production.

Cloud peer: the same ONNX model behind FastAPI + uvicorn on loopback, the user's features
fetched per request from a Feast online store (SQLite). Feast pins pandas below 3, which
conflicts with this project's environment, so the peer runs from its own virtual
environment, created by this bench on first use (``$EDGEMARK_BENCH_CACHE`` or
~/.cache/edgemark/feast-venv; network to the package index needed once). If Feast cannot
be installed, the peer runs without Feast (features from a dict) and says so.
Prints one JSON object: {"bench": "serve", "figures": {...}}.
"""

# ruff: noqa: E402  (the thread settings below must come before numpy is imported)
from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import http.client
import json
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decide import N_USERS, T0, WARMUP, _bundle, _histories, _model, _percentiles
from edgemark.edge import DecisionRequest, Runtime
from edgemark.events import Event
from edgemark.features import DEFAULT_SPEC, OnlineFeatures

N_HTTP = 3000
CLIENTS = 8
RPS_SECONDS = 5.0
N_DECIDE = 10_000
FEAST_PIN = "feast[sqlite]>=0.40,<1"
PEER_PACKAGES = [FEAST_PIN, "fastapi>=0.110,<1", "uvicorn>=0.29,<1", "onnxruntime>=1.18,<2",
                 "numpy>=1.26,<3"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(path: Path, child: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()[-2000:]}")
        text = path.read_text().strip() if path.exists() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.05)
    raise SystemExit(f"server did not start:\n{log.read_text()[-2000:]}")


def _latencies(port: int, path: str, bodies: list[bytes]) -> list[float]:
    """Sequential POSTs over one keep-alive connection; microseconds per round trip."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Content-Type": "application/json"}
    out = []
    for body in bodies:
        t = time.perf_counter_ns()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"{path} answered {response.status}")
        out.append((time.perf_counter_ns() - t) / 1000)
    conn.close()
    return out


_CLIENT = textwrap.dedent(
    """
    import http.client, json, socket, sys, time
    port, start = int(sys.argv[1]), float(sys.argv[2])
    seconds, worker = float(sys.argv[3]), int(sys.argv[4])
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    headers = {"Content-Type": "application/json"}
    n, i = 0, 0
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < start + seconds:
        user = f"cust-{(i * 7 + worker) %% %d}"
        body = json.dumps({"user": user, "ts": %r + i}).encode()
        conn.request("POST", "/v1/decide", body, headers)
        r = conn.getresponse(); r.read()
        n += r.status == 200
        i += 1
    print(n)
    """
)


def _rps(port: int) -> float:
    """Decisions per second answered to ``CLIENTS`` concurrent keep-alive clients."""
    code = _CLIENT % (N_USERS, T0 + 10 * 86400)
    start = time.time() + 2.0  # every client connected before the clock starts
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(port), str(start), str(RPS_SECONDS), str(w)],
            stdout=subprocess.PIPE,
        )
        for w in range(CLIENTS)
    ]
    total = sum(int(w.communicate(timeout=120)[0] or 0) for w in workers)
    return total / RPS_SECONDS


def _edge(root: Path, bundle: Path) -> dict[str, float]:
    log = root / "serve.log"
    state, trust = root / "node", root / "keys"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "edgemark", "edge", "serve", "--state", str(state),
             "--trust", str(trust), "--node-id", "store-1", "--bundle", str(bundle),
             "--port", "0"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        port = _wait_port(state / "api.port", child, log)
        rng = np.random.default_rng(3)
        users = rng.integers(N_USERS, size=N_HTTP + WARMUP // 3)
        start = T0 + 5 * 86400
        bodies = [
            json.dumps(
                {"user": f"cust-{u}", "ts": start + i, "context": {"channel": "pos"}}
            ).encode()
            for i, u in enumerate(users)
        ]
        _latencies(port, "/v1/decide", bodies[: WARMUP // 3])
        lat = _latencies(port, "/v1/decide", bodies[WARMUP // 3 :])
        rps = _rps(port)
    finally:
        child.terminate()
        child.wait(timeout=60)
    p50, _p95, p99 = _percentiles(lat)
    return {"http_p50_us": p50, "http_p99_us": p99, "http_rps_8": rps}


def _decide_in_process(root: Path, bundle: Path) -> float:
    """P99 of in-process decide() on the same bundle and state, for the side-by-side ratio."""
    runtime = Runtime(root / "node", "store-1", trust=_trust(root), key=None)
    runtime.load(bundle)
    rng = np.random.default_rng(4)
    users = rng.integers(N_USERS, size=N_DECIDE + WARMUP)
    requests = [
        DecisionRequest(f"cust-{u}", T0 + 20 * 86400 + i * 0.5) for i, u in enumerate(users)
    ]
    for request in requests[:WARMUP]:
        runtime.decide(request)
    us = []
    for request in requests[WARMUP:]:
        t = time.perf_counter_ns()
        runtime.decide(request)
        us.append((time.perf_counter_ns() - t) / 1000)
    runtime.close()
    return _percentiles(us)[2]


def _trust(root: Path) -> Any:
    from edgemark.bundle import TrustStore

    return TrustStore.from_directory(root / "keys")


# -- the cloud peer ----------------------------------------------------------------------
_SETUP = textwrap.dedent(
    """
    import json, sys
    from datetime import datetime, timedelta, timezone
    import numpy as np, pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float32
    repo, names = sys.argv[1], json.load(open(sys.argv[2]))
    users, matrix = json.load(open(sys.argv[3])), np.load(sys.argv[4])
    open(f"{repo}/feature_store.yaml", "w").write(
        "project: edgebench\\nregistry: data/registry.db\\nprovider: local\\n"
        "online_store:\\n  type: sqlite\\n  path: data/online.db\\n"
        "entity_key_serialization_version: 3\\n")
    now = datetime.now(timezone.utc)
    frame = pd.DataFrame(matrix.astype("float32"), columns=names)
    frame.insert(0, "user_id", users)
    frame["event_timestamp"] = now - timedelta(minutes=5)
    frame.to_parquet(f"{repo}/data/features.parquet")
    user = Entity(name="user", join_keys=["user_id"])
    source = FileSource(path=f"{repo}/data/features.parquet", timestamp_field="event_timestamp")
    view = FeatureView(name="user_features", entities=[user], ttl=timedelta(days=3650),
                       schema=[Field(name=n, dtype=Float32) for n in names], source=source)
    store = FeatureStore(repo_path=repo)
    store.apply([user, view])
    store.write_to_online_store("user_features", frame)
    """
)
_SERVER = textwrap.dedent(
    """
    import json, sys
    import numpy as np, onnxruntime as ort, uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel
    repo, model, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    names = json.load(open(sys.argv[4]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    input_name, output = session.get_inputs()[0].name, session.get_outputs()[-1].name
    if repo == "-":  # no Feast: features from memory (the partial peer)
        table = dict(zip(json.load(open(sys.argv[5])), np.load(sys.argv[6]).tolist()))
        def fetch(user):
            return table.get(user, [0.0] * len(names))
    else:
        from feast import FeatureStore
        store = FeatureStore(repo_path=repo)
        refs = [f"user_features:{n}" for n in names]
        def fetch(user):
            rows = [{"user_id": user}]
            row = store.get_online_features(features=refs, entity_rows=rows).to_dict()
            return [row[n][0] if row[n][0] is not None else 0.0 for n in names]
    app = FastAPI()
    class Request(BaseModel):
        user: str
        ts: float
    @app.post("/decide")
    def decide(request: Request) -> dict:
        x = np.asarray([fetch(request.user)], dtype=np.float32)
        score = float(np.asarray(session.run([output], {input_name: x})[0]).reshape(-1)[-1])
        return {"user": request.user, "score": score}
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    """
)


def _peer_python() -> tuple[Path | None, str]:
    """The Python of the peer's venv (created on first use), or None with the reason."""
    cache = Path(os.environ.get("EDGEMARK_BENCH_CACHE", Path.home() / ".cache" / "edgemark"))
    venv = cache / "feast-venv"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    if ready.exists():
        return python, "feast from " + str(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if install.returncode != 0:
        return None, f"pip install {FEAST_PIN} failed: {install.stderr.strip()[-300:]}"
    ready.write_text("ok\n")
    return python, "feast from " + str(venv) + " (created now)"


def _cloud(root: Path, model: Path) -> dict[str, Any]:
    online = OnlineFeatures(DEFAULT_SPEC)
    _histories_into(online)
    users = [f"cust-{u}" for u in range(N_USERS)]
    matrix = np.stack([online.vector(u, T0) for u in users])
    names_file, users_file, matrix_file = root / "names.json", root / "users.json", root / "x.npy"
    names_file.write_text(json.dumps(list(DEFAULT_SPEC.names)))
    users_file.write_text(json.dumps(users))
    np.save(matrix_file, matrix)
    python, how = _peer_python()
    repo = root / "feast_repo"
    (repo / "data").mkdir(parents=True)
    args: list[str]
    if python is not None:
        setup = root / "setup_feast.py"
        setup.write_text(_SETUP)
        files = [str(names_file), str(users_file), str(matrix_file)]
        subprocess.run([str(python), str(setup), str(repo), *files],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
        args = [str(python), str(root / "peer.py"), str(repo), str(model)]
    else:
        args = [sys.executable, str(root / "peer.py"), "-", str(model)]
    (root / "peer.py").write_text(_SERVER)
    port = _free_port()
    args += [str(port), str(names_file), str(users_file), str(matrix_file)]
    log = root / "peer.log"
    with log.open("wb") as out:
        child = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_http(port, child, log)
        rng = np.random.default_rng(5)
        bodies = [json.dumps({"user": f"cust-{u}", "ts": T0}).encode()
                  for u in rng.integers(N_USERS, size=N_HTTP + 300)]  # fmt: skip
        _latencies(port, "/decide", bodies[:300])
        lat = _latencies(port, "/decide", bodies[300:])
    finally:
        child.terminate()
        child.wait(timeout=60)
    p50, _p95, p99 = _percentiles(lat)
    return {"cloud_p50_us": p50, "cloud_p99_us": p99, "cloud_peer": how if python else
            f"FastAPI without Feast (features from a dict): {how}"}  # fmt: skip


def _histories_into(online: OnlineFeatures) -> None:
    """The same histories as the edge's, under raw ids (the peer's store is keyed by them)."""
    rng = np.random.default_rng(1)

    class _Sink:
        def observe_many(self, events: list[Event]) -> None:
            for event in events:
                online.update_event(event)

    _histories(_Sink(), rng)  # type: ignore[arg-type]


def _wait_http(port: int, child: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit(f"peer exited early:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"peer did not start:\n{log.read_text()[-2000:]}")


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = _model(root)
        bundle, trust = _bundle(root, model)
        warm = Runtime(root / "node", "store-1", trust=trust)
        warm.load(bundle)
        _histories(warm, np.random.default_rng(1))
        warm.close()
        edge = _edge(root, bundle)
        decide_p99 = _decide_in_process(root, bundle)
        cloud = _cloud(root, model)
    figures = {
        "http_p50_us": round(edge["http_p50_us"], 1),
        "http_p99_us": round(edge["http_p99_us"], 1),
        "http_rps_8": round(edge["http_rps_8"]),
        "cloud_p50_us": round(cloud["cloud_p50_us"], 1),
        "cloud_p99_us": round(cloud["cloud_p99_us"], 1),
        "decide_p99_us": round(decide_p99, 1),
        "cloud_over_decide_p99": round(cloud["cloud_p99_us"] / decide_p99, 1),
        "cloud_peer": cloud["cloud_peer"],
        "clients": CLIENTS,
        "n_requests": N_HTTP,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps({"bench": "serve", "figures": figures}))


if __name__ == "__main__":
    main()
