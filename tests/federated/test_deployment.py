"""Deployment mode: a real Flower SuperLink and three SuperNodes on 127.0.0.1 run DP-FedAvg
rounds with the hub's ServerApp and the edge's ClientApp: each node trains on its own
journal, every round lands in a live hub's privacy ledger, charged to all three nodes.
Then a second run on the same SuperLink releases the offer priors from the nodes'
randomised decisions, as one more ledger round. Success is each run's status on the
SuperLink (``flwr run`` exits 0 on failure too)."""

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

import httpx
import numpy as np
import pytest

from edgemark.federated import (
    EDGE_CLIENT_APP,
    HUB_SERVER_APP,
    calibrate_noise,
    epsilon_spent,
    offer_rates_run_config,
    write_flower_app,
    write_flower_connection,
)
from tests.federated.flower_support import (
    ARMS,
    CENTER,
    DAY,
    T0,
    TRUE_RATES,
    exact_rates,
    node_journal,
    randomised_journal,
    signed_bundle,
)

pytest.importorskip("flwr")
pytest.importorskip("fastapi")
from edgemark.hub import AdminClient, HubSettings, Secret, ServerThread
from tests.hub._support import ADMIN, ADMIN_TOKEN, enrol_node

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

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.children.append(subprocess.Popen(
                [str(BIN / args[0]), *args[1:]], stdout=log, stderr=subprocess.STDOUT,
                env=self.env if env is None else env, start_new_session=True,
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


NAMES = ["store-0", "store-1", "store-2"]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[ServerThread, dict[str, str], str]]:
    """A live hub with the three stores enrolled: (server, node id by name, deploy token)."""
    settings = HubSettings(admin_token=Secret(ADMIN_TOKEN),
                           database_url=f"sqlite:///{tmp_path / 'hub.db'}",
                           bundle_dir=tmp_path / "bundles")  # fmt: skip
    with ServerThread(settings) as server, httpx.Client(base_url=server.url) as client:
        ids = {name: enrol_node(client, name)[0] for name in NAMES}
        with AdminClient(server.url, ADMIN_TOKEN) as admin:
            token = str(admin.create_admin_token("flower-serverapp", "deploy")["token"])
        yield server, ids, token


@pytest.fixture
def fleet(
    tmp_path: Path, hub: tuple[ServerThread, dict[str, str], str]
) -> Iterator[tuple[Processes, str]]:
    env = {**os.environ, "FLWR_HOME": str(tmp_path / "flwr"),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    env.pop("EDGEMARK_HUB_TOKEN", None)
    procs = Processes(env, tmp_path)
    port = free_port()
    address = f"127.0.0.1:{port}"
    # The token goes to the SuperLink's environment alone: the ServerApp process it starts
    # must inherit it (neither `flwr run` nor the run config carries it).
    procs.start("superlink", "flower-superlink", "--insecure", "--host", "127.0.0.1",
                "--port", str(port), "--disable-runtime-dependency-installation",
                env={**env, "EDGEMARK_HUB_TOKEN": hub[2]})  # fmt: skip
    wait_listening(port)
    bundle, trust = signed_bundle(tmp_path)
    for k, name in enumerate(NAMES):
        state = tmp_path / name
        # Two days of history, so each node holds labelled rows; store-2's users never
        # gave training consent, so it takes part with its share of the noise only. Then
        # a bundle's randomised decisions with outcomes, for the offer-rates release.
        node_journal(state, range(2), training=k < 2)
        rates = dict(zip(ARMS, TRUE_RATES[k], strict=True))
        randomised_journal(state, bundle, trust, rates, users=400, seed=k, start=T0 + 2 * DAY)
        config = f"state-dir='{state}' node-name='{name}'"
        procs.start(f"supernode-{k}", "flower-supernode", "--insecure", "--superlink", address,
                    "--node-config", config, "--host", "127.0.0.1",
                    "--port", str(free_port()))  # fmt: skip
    try:
        yield procs, address
    finally:
        procs.stop()


def run_status(
    flwr: str, env: dict[str, str], before: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The status of the run started after the runs ``before``, once it finished."""
    deadline = time.monotonic() + 180
    run: dict[str, str] = {}
    while time.monotonic() < deadline:
        listing = subprocess.run([flwr, "ls", "edge", "--format", "json"], env=env,
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        runs = [r for r in json.loads(listing.stdout)["runs"] if str(r["run-id"]) not in before]
        run = runs[0] if runs else {}
        if run.get("status", "").startswith("finished"):
            break
        time.sleep(1)
    return run


def flwr_run(flwr: str, app: Path, env: dict[str, str], before: frozenset[str]) -> dict[str, str]:
    run = subprocess.run([flwr, "run", str(app), "edge", "--stream"], env=env, cwd=app,
                         capture_output=True, text=True, timeout=240)  # fmt: skip
    assert "Successfully started run" in run.stdout, run.stdout + run.stderr
    status = run_status(flwr, env, before)
    assert status.get("status") == "finished:completed", status
    return status


def test_superlink_and_three_supernodes_record_dp_rounds_in_the_hubs_ledger(
    fleet: tuple[Processes, str], hub: tuple[ServerThread, dict[str, str], str], tmp_path: Path
) -> None:
    procs, address = fleet
    server, ids, _ = hub
    write_flower_connection(tmp_path / "flwr", "edge", address, insecure=True)
    out = tmp_path / "result.json"
    app = tmp_path / "app"
    write_flower_app(app, {"rounds": 2, "min-nodes": 3, "clip-norm": 0.5,
                           "noise-multiplier": 1.0, "epsilon": 8.0, "hub-url": server.url,
                           "out": str(out)},
                     serverapp=HUB_SERVER_APP, clientapp=EDGE_CLIENT_APP)  # fmt: skip
    flwr = shutil.which("flwr", path=procs.env["PATH"])
    assert flwr is not None
    status = flwr_run(flwr, app, procs.env, frozenset())

    result = json.loads(out.read_text())
    assert result["run_id"] == f"flower-{status['run-id']}" and result["error"] is None
    rows = result["history"]
    assert [r["round"] for r in rows] == [1, 2] and all(r["clients"] == 3 for r in rows)
    # The ServerApp refuses a name answer that holds anything but a valid name, so these
    # names crossed the wire alone.
    assert all(r["nodes"] == NAMES for r in rows)
    assert len(result["params"]["fl"]) == 30 and any(v != 0 for v in result["params"]["fl"])

    ledger = httpx.get(f"{server.url}/v1/privacy/ledger", headers=ADMIN).json()
    spent = epsilon_spent(2, 1.0, 1.0)
    assert ledger["delta"] == 1e-6
    assert [(r["round"], r["clients"]) for r in ledger["rounds"]] == [(1, 3), (2, 3)]
    assert ledger["rounds"][-1]["epsilon_cumulative"] == pytest.approx(spent, rel=1e-12)
    charged = {n["node_id"]: n["epsilon_federated"] for n in ledger["nodes"]}
    assert charged == {ids[name]: pytest.approx(spent, rel=1e-12) for name in NAMES}

    # A second run on the same SuperLink: one offer-rates release from the nodes' journals.
    # A large budget keeps the noise small, so that the released rates are checked tightly.
    release_out = tmp_path / "release.json"
    config = offer_rates_run_config(ARMS, epsilon=50.0, center=CENTER, clip_norm=0.3,
                                    experiment="exp-fl", min_nodes=3)  # fmt: skip
    write_flower_app(tmp_path / "release", {**config, "hub-url": server.url,
                                            "out": str(release_out)},
                     serverapp=HUB_SERVER_APP, clientapp=EDGE_CLIENT_APP)  # fmt: skip
    second = flwr_run(flwr, tmp_path / "release", procs.env, frozenset({str(status["run-id"])}))

    release = json.loads(release_out.read_text())
    assert release["run_id"] == f"flower-{second['run-id']}" and release["error"] is None
    (row,) = release["history"]
    assert row["clients"] == 3 and row["nodes"] == NAMES and row["auc"] is None
    priors = release["offer_priors"]
    z = calibrate_noise(50.0, 1, 1.0)
    assert priors["noise_std"] == pytest.approx(z * 0.3 / 3, rel=1e-12)
    exact = [exact_rates(tmp_path / name, ARMS) for name in NAMES]
    assert all(np.linalg.norm(r - np.array(CENTER)) < 0.3 for r in exact)  # none clipped
    truth = np.mean(exact, axis=0)
    released = np.array([priors["rates"][a] for a in ARMS])
    assert np.abs(released - truth).max() < 4 * priors["noise_std"]
    ledger = httpx.get(f"{server.url}/v1/privacy/ledger", headers=ADMIN).json()
    assert [r["run_id"] for r in ledger["rounds"]][-1] == release["run_id"]
    both = spent + epsilon_spent(1, z, 1.0)
    charged = {n["node_id"]: n["epsilon_federated"] for n in ledger["nodes"]}
    assert charged == {ids[name]: pytest.approx(both, rel=1e-12) for name in NAMES}
