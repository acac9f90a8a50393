"""Deployment mode: a real Flower SuperLink and three SuperNodes on 127.0.0.1 run DP-FedAvg
rounds; success is the run's status on the SuperLink (``flwr run`` exits 0 on failure too)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgemark.federated import write_flower_app, write_flower_connection

pytest.importorskip("flwr")
pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def wait_listening(port: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.children = env, logs, []  # type: ignore[var-annotated]

    def start(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.children.append(subprocess.Popen(
                [str(BIN / args[0]), *args[1:]], stdout=log, stderr=subprocess.STDOUT,
                env=self.env, start_new_session=True,
            ))  # fmt: skip

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:  # the whole group: SuperNodes start SuperExec children
                os.killpg(child.pid, signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[Processes, str]]:
    env = {**os.environ, "FLWR_HOME": str(tmp_path / "flwr"),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    procs = Processes(env, tmp_path)
    port = free_port()
    address = f"127.0.0.1:{port}"
    procs.start("superlink", "flower-superlink", "--insecure", "--host", "127.0.0.1",
                "--port", str(port), "--disable-runtime-dependency-installation")  # fmt: skip
    wait_listening(port)
    for k in range(3):
        rng = np.random.default_rng(k)
        x = rng.gamma(1.0, 2.0, size=(300, 5))
        y = (rng.random(300) < 1 / (1 + np.exp(1.5 - 0.8 * np.arcsinh(x[:, 0])))).astype(float)
        np.savez(tmp_path / f"store-{k}.npz", x=x, y=y)
        procs.start(f"supernode-{k}", "flower-supernode", "--insecure", "--superlink", address,
                    "--node-config", f"data-path='{tmp_path / f'store-{k}.npz'}'",
                    "--host", "127.0.0.1", "--port", str(free_port()))  # fmt: skip
    try:
        yield procs, address
    finally:
        procs.stop()


def test_superlink_and_three_supernodes_complete_dp_rounds(
    fleet: tuple[Processes, str], tmp_path: Path
) -> None:
    procs, address = fleet
    write_flower_connection(tmp_path / "flwr", "edge", address, insecure=True)
    out = tmp_path / "result.json"
    app = tmp_path / "app"
    write_flower_app(app, {"rounds": 2, "min-nodes": 3, "n-features": 5, "clip-norm": 0.5,
                           "noise-multiplier": 1.0, "epsilon": 8.0, "out": str(out)})  # fmt: skip
    flwr = shutil.which("flwr", path=procs.env["PATH"])
    assert flwr is not None
    run = subprocess.run([flwr, "run", str(app), "edge", "--stream"], env=procs.env,
                         cwd=app, capture_output=True, text=True, timeout=240)  # fmt: skip
    assert "Successfully started run" in run.stdout, run.stdout + run.stderr
    status = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        listing = subprocess.run([flwr, "ls", "edge", "--format", "json"], env=procs.env,
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        runs = json.loads(listing.stdout)["runs"]
        status = runs[0]["status"] if runs else ""
        if status.startswith("finished"):
            break
        time.sleep(1)
    assert status == "finished:completed", status
    result = json.loads(out.read_text())
    rows = result["history"]
    assert [r["round"] for r in rows] == [1, 2] and all(r["clients"] == 3 for r in rows)
    from edgemark.federated import epsilon_spent

    assert rows[-1]["epsilon"] == pytest.approx(epsilon_spent(2, 1.0, 1.0))
    assert len(result["params"]["fl"]) == 6 and any(v != 0 for v in result["params"]["fl"])
