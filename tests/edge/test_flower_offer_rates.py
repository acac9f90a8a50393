"""The offer-priors release over Flower on real node state: three stores' Runtimes served a
signed bundle and journaled randomised decisions with outcomes; the hub's ServerApp sends
each node one offer-rates task, the edge's ClientApp answers with K noised rates from the
journal, the release lands in a live hub's ledger charged to every node, and its priors
load into a bundle policy. An in-process grid stands in for Flower (no process starts)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from edgemark.errors import ConfigError
from edgemark.federated import calibrate_noise, deployment_rounds, epsilon_spent

flwr = pytest.importorskip("flwr")
pytest.importorskip("fastapi")
from edgemark.edge._flower_client import client_app  # noqa: E402
from edgemark.federated._flower import OFFER_RATES_QUERY  # noqa: E402
from edgemark.hub import AdminClient, HubSettings, Secret, ServerThread  # noqa: E402
from edgemark.hub._flower_app import ENV_HUB_TOKEN, _main  # noqa: E402
from tests.federated.flower_support import (  # noqa: E402
    ARMS,
    CENTER,
    OFFERS,
    POLICY,
    TRUE_RATES,
    AppGrid,
    context,
    exact_rates,
    randomised_journal,
    signed_bundle,
    task_identity,
)
from tests.hub._support import ADMIN, ADMIN_TOKEN, enrol_node  # noqa: E402

NAMES = ["store-0", "store-1", "store-2"]
CLIP = 0.3
# A large budget keeps the noise small, so that the released rates are checked tightly;
# the noise level itself is checked exactly (z·C/n) and the ledger's epsilon is z's.
EPSILON = 50.0


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """Node configs by Flower node id: each a real state dir written by its Runtime."""
    root = tmp_path_factory.mktemp("offer-nodes")
    bundle, trust = signed_bundle(root)
    configs = {}
    for k, name in enumerate(NAMES):
        rates = dict(zip(ARMS, TRUE_RATES[k], strict=True))
        randomised_journal(root / name, bundle, trust, rates, users=400, seed=k)
        configs[100 + k] = {"state-dir": str(root / name), "node-name": name}
    return configs


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[ServerThread, dict[str, str]]]:
    """A live hub with the three stores enrolled, and a deploy token in the environment."""
    settings = HubSettings(admin_token=Secret(ADMIN_TOKEN),
                           database_url=f"sqlite:///{tmp_path / 'hub.db'}",
                           bundle_dir=tmp_path / "bundles")  # fmt: skip
    with ServerThread(settings) as server, httpx.Client(base_url=server.url) as client:
        ids = {name: enrol_node(client, name)[0] for name in NAMES}
        yield server, ids


@pytest.fixture
def deploy_token(hub: tuple[ServerThread, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> str:
    with AdminClient(hub[0].url, ADMIN_TOKEN) as admin:
        token = str(admin.create_admin_token("flower-serverapp", "deploy")["token"])
    monkeypatch.setenv(ENV_HUB_TOKEN, token)
    return token


def run_config(url: str, out: Path, **extra: Any) -> dict[str, Any]:
    return {"kind": "offer-rates", "offers": ",".join(ARMS), "epsilon": EPSILON,
            "center": ",".join(map(str, CENTER)), "clip-norm": CLIP, "min-nodes": 3,
            "experiment": "exp-fl", "hub-url": url, "out": str(out), **extra}  # fmt: skip


def release(app: Any, configs: dict[int, dict[str, Any]], config: dict[str, Any]) -> AppGrid:
    grid = AppGrid(app, configs, run_id=31)
    with task_identity(31):
        _main(grid, context(config, run_id=31))  # type: ignore[arg-type]
    return grid


def test_a_release_over_real_nodes_is_charged_to_every_node_and_matches_their_rates(
    nodes: dict[int, dict[str, Any]],
    hub: tuple[ServerThread, dict[str, str]],
    deploy_token: str,
    tmp_path: Path,
) -> None:
    server, ids = hub
    out = tmp_path / "result.json"
    truth = [exact_rates(Path(c["state-dir"]), ARMS) for c in nodes.values()]

    grid = release(client_app, nodes, run_config(server.url, out))

    # One task per node, answered with 4 floats and nothing else.
    tasks = [m for m in grid.sent if m.metadata.message_type == OFFER_RATES_QUERY]
    assert sorted(m.metadata.dst_node_id for m in tasks) == sorted(nodes)
    for reply in grid.replies[-3:]:
        assert list(reply.content.keys()) == ["rates"]
        (vector,) = reply.content.array_records["rates"].to_numpy_ndarrays()
        assert vector.shape == (4,) and vector.dtype == np.float64
    # The ledger charges every connected node the release's epsilon, as one round.
    z = calibrate_noise(EPSILON, 1, 1.0)
    spent = epsilon_spent(1, z, 1.0)
    ledger = httpx.get(f"{server.url}/v1/privacy/ledger", headers=ADMIN).json()
    assert [(r["run_id"], r["round"], r["clients"], r["auc"]) for r in ledger["rounds"]] == [
        ("flower-31", 1, 3, None)
    ]
    charged = {n["node_id"]: n["epsilon_federated"] for n in ledger["nodes"]}
    assert charged == {ids[name]: pytest.approx(spent, rel=1e-12) for name in NAMES}
    assert spent <= EPSILON
    # The released rates: the nodes' exact mean (none clipped) plus noise of sd z·C/3.
    result = json.loads(out.read_text())
    priors = result["offer_priors"]
    assert result["kind"] == "offer-rates" and result["error"] is None
    assert priors["noise_std"] == pytest.approx(z * CLIP / 3, rel=1e-12)
    assert all(np.linalg.norm(r - np.array(CENTER)) < CLIP for r in truth)
    released = np.array([priors["rates"][a] for a in ARMS])
    assert np.abs(released - np.mean(truth, axis=0)).max() < 4 * priors["noise_std"]
    assert priors["arms"] == ARMS and priors["epsilon"] == pytest.approx(spent)
    # The file is what `edgemark fl record` posts: the same single round.
    (row,) = deployment_rounds(out)
    assert row == {"run_id": "flower-31", "round": 1, "epsilon_cumulative": priors["epsilon"],
                   "delta": 1e-6, "clients": 3, "auc": None, "nodes": NAMES}  # fmt: skip
    # The policy priors load into a bundle for this spec (1 bias, 1 score, 29 features).
    assert_policy_priors_load(priors["policy_priors"], priors["rates"], tmp_path)


def assert_policy_priors_load(
    policy_priors: dict[str, Any], rates: dict[str, float], tmp_path: Path
) -> None:
    from edgemark.edge import Runtime
    from edgemark.edge._settings import parse_policy

    settings = parse_policy({**POLICY, "priors": policy_priors}, OFFERS)
    assert sorted(settings.priors) == sorted(ARMS[1:])
    logit = {a: math.log(r / (1 - r)) for a, r in rates.items()}
    for offer, prior in settings.priors.items():
        assert len(prior.mean) == len(prior.variance) == 31
        # The fleet's logit difference, shrunk toward the edge's prior N(0, 0.5).
        uplift = logit[offer] - logit["none"]
        assert 0 < prior.mean[0] / uplift < 1 and prior.variance[0] < 0.5
    bundle, trust = signed_bundle(tmp_path / "v2", "v2", priors=policy_priors)
    runtime = Runtime(tmp_path / "fresh", "store-9", trust=trust, maintenance_interval_s=None)
    try:
        assert runtime.load(bundle).version == "v2"  # the contextual policy accepts them
    finally:
        runtime.close()


def test_a_reply_with_anything_but_k_rates_is_refused_and_its_node_still_pays(
    nodes: dict[int, dict[str, Any]],
    hub: tuple[ServerThread, dict[str, str]],
    deploy_token: str,
    tmp_path: Path,
) -> None:
    from flwr.app import ConfigRecord

    server, ids = hub
    out = tmp_path / "result.json"

    def chatty_102(message: Any, ctx: Any) -> Any:
        reply = client_app(message, ctx)
        if ctx.node_id == 102 and message.metadata.message_type == OFFER_RATES_QUERY:
            reply.content["counts"] = ConfigRecord({"exposures": [80, 81, 79, 80]})
        return reply

    release(chatty_102, nodes, run_config(server.url, out))

    priors = json.loads(out.read_text())["offer_priors"]
    assert list(priors["refused"]) == ["store-2"]
    assert "['rates', 'counts']" in priors["refused"]["store-2"]
    z = calibrate_noise(EPSILON, 1, 1.0)
    assert priors["noise_std"] == pytest.approx(z * CLIP / 2, rel=1e-12)  # topped up, over 2
    ledger = httpx.get(f"{server.url}/v1/privacy/ledger", headers=ADMIN).json()
    assert [r["clients"] for r in ledger["rounds"]] == [2]
    assert {n["node_id"] for n in ledger["nodes"] if n["epsilon_federated"] > 0} == set(
        ids.values()
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"offers": "pct10,none"}, "'none' \\(the holdout\\) first"),
        ({"offers": "none,pct10,pct10,bogo"}, "all distinct"),
        ({"offers": "none"}, "at least one offer"),
        ({"offers": "none,holdout"}, "cannot be offer ids"),
        ({"center": "0.2,0.3"}, "must hold 4 comma-separated rates"),
        ({"center": "0.2,0.3,1.5,0.1"}, "rates in \\[0, 1\\]"),
        ({"center": "a,b,c,d"}, "comma-separated rates"),
        ({"epsilon": 0}, "epsilon must be > 0"),
        ({"epsilon": float("inf")}, "finite number"),
        ({"epsilon": None}, "epsilon must be > 0"),
        ({"clip-norm": -0.1}, "clip-norm must be > 0"),
        ({"strength": 0}, "strength must be > 0"),
        ({"n-features": -1}, "n-features must be an integer >= 0"),
        ({"rounds": 3}, "rounds belong to model training"),
        ({"noise-multiplier": 1.0}, "noise-multiplier belong to model training"),
        ({"kind": "offers"}, "kind must be one of"),
        ({"kind": "model"}, "offers, center, experiment belong to an offer-rates release"),
    ],
)
def test_a_bad_run_config_is_refused_before_any_message(
    change: dict[str, Any], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgemark.federated._flower_deploy import _deployment_main

    monkeypatch.setenv(ENV_HUB_TOKEN, "t" * 24)
    config = run_config("http://127.0.0.1:9", tmp_path / "r.json")
    config = {k: v for k, v in {**config, **change}.items() if v is not None}
    configs = {100: {"state-dir": str(tmp_path), "node-name": "store-0"}}
    for main in (_main, _deployment_main):  # the hub's ServerApp and the plain one
        grid = AppGrid(client_app, configs)
        with task_identity(), pytest.raises(ConfigError, match=message):
            main(grid, context(config))  # type: ignore[arg-type]
        assert grid.sent == [] and not (tmp_path / "r.json").exists()
