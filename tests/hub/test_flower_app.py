"""The hub's Flower ServerApp: every round of a deployment run lands in the privacy ledger,
charged to every node connected for the run, or the run stops before it spends epsilon
that the ledger does not hold. An in-process grid stands in for Flower (no process starts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from edgemark.errors import ConfigError, HubError
from edgemark.federated import epsilon_spent
from edgemark.hub import AdminClient, ServerThread, record_federated_round
from edgemark.hub._schemas import NAME_PATTERN

from ._support import ADMIN, ADMIN_TOKEN, enrol_node

flwr = pytest.importorskip("flwr")
from edgemark.federated._deploy import NODE_NAME  # noqa: E402
from edgemark.federated._flower import (  # noqa: E402
    NAME_QUERY,
    deployment_plan,
    make_client_app,
    run_deployment,
)
from edgemark.hub._flower_app import (  # noqa: E402
    ENV_HUB_TOKEN,
    LedgerRecorder,
    _main,
    ledger_recorder,
)
from edgemark.hub._settings import Secret  # noqa: E402
from tests.federated.flower_support import AppGrid, context, task_identity  # noqa: E402

NAMES = ["store-0", "store-1", "store-2"]


def node_configs(tmp_path: Path) -> dict[int, dict[str, Any]]:
    configs = {}
    for k, name in enumerate(NAMES):
        rng = np.random.default_rng(k)
        x = rng.gamma(1.0, 2.0, size=(200, 5))
        y = (rng.random(200) < 1 / (1 + np.exp(1.5 - 0.8 * np.arcsinh(x[:, 0])))).astype(float)
        np.savez(tmp_path / f"{name}.npz", x=x, y=y)
        configs[100 + k] = {"data-path": str(tmp_path / f"{name}.npz"), "node-name": name}
    return configs


def run_config(hub: ServerThread, out: Path, **extra: Any) -> dict[str, Any]:
    return {"rounds": 3, "noise-multiplier": 1.2, "clip-norm": 0.5, "n-features": 5,
            "min-nodes": 3, "hub-url": hub.url, "out": str(out), **extra}  # fmt: skip


def deploy_token(hub: ServerThread) -> str:
    with AdminClient(hub.url, ADMIN_TOKEN) as admin:
        return str(admin.create_admin_token("flower-serverapp", "deploy")["token"])


def test_every_round_is_charged_to_every_connected_node(
    client: httpx.Client, hub: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = {name: enrol_node(client, name)[0] for name in NAMES}
    monkeypatch.setenv(ENV_HUB_TOKEN, deploy_token(hub))
    out = tmp_path / "result.json"
    grid = AppGrid(make_client_app(), node_configs(tmp_path), run_id=77)

    with task_identity(77):  # half the nodes per round: the unsampled pay all the same
        _main(grid, context(run_config(hub, out, **{"sample-rate": 0.5}), run_id=77))  # type: ignore[arg-type]

    ledger = client.get("/v1/privacy/ledger", headers=ADMIN).json()
    spent = epsilon_spent(3, 1.2, 0.5)
    charged = {n["node_id"]: n["epsilon_federated"] for n in ledger["nodes"]}
    assert charged == {ids[name]: pytest.approx(spent, rel=1e-12) for name in NAMES}
    assert ledger["delta"] == 1e-6
    result = json.loads(out.read_text())
    assert result["run_id"] == "flower-77" and result["error"] is None
    assert [r["round"] for r in ledger["rounds"]] == [1, 2, 3]
    assert [r["clients"] for r in ledger["rounds"]] == [r["clients"] for r in result["history"]]
    assert sum(r["clients"] for r in result["history"]) < 9  # some nodes were not sampled
    assert all(r["nodes"] == NAMES and r["delta"] == 1e-6 for r in result["history"])
    # A node's answer to the name query is its enrolment name and nothing else.
    answers = [r for r, m in zip(grid.replies, grid.sent, strict=True)
               if m.metadata.message_type == NAME_QUERY]  # fmt: skip
    assert len(answers) == 3
    for reply in answers:
        assert list(reply.content.keys()) == ["node"]
        assert list(reply.content.config_records["node"].keys()) == ["name"]
    assert sorted(r.content.config_records["node"]["name"] for r in answers) == NAMES


def test_a_hub_that_stops_recording_stops_the_run_and_the_file_keeps_every_round(
    client: httpx.Client, hub: ServerThread, tmp_path: Path
) -> None:
    for name in NAMES:
        enrol_node(client, name)
    out = tmp_path / "result.json"
    config = run_config(hub, out, rounds=4)
    posted: list[int] = []

    def hub_gone_after_round_1(url: str, token: str, row: dict[str, Any]) -> dict[str, Any]:
        posted.append(row["round"])
        if row["round"] > 1:
            raise HubError(f"hub at {url} unreachable: connection refused", 0)
        return record_federated_round(url, token, row)

    with task_identity(5):
        grid = AppGrid(make_client_app(), node_configs(tmp_path), run_id=5)
        plan = deployment_plan(context(config, 5))  # type: ignore[arg-type]
        recorder = LedgerRecorder(hub.url, Secret(ADMIN_TOKEN), "flower-5", attempts=3,
                                  post=hub_gone_after_round_1, sleep=lambda s: None)  # fmt: skip
        with pytest.raises(HubError, match="round 2 of flower-5 was trained but the hub"):
            run_deployment(grid, context(config, 5), plan, recorder)  # type: ignore[arg-type]

    assert posted == [1, 2, 2, 2]  # round 2 tried three times, round 3 never ran
    result = json.loads(out.read_text())
    assert [r["round"] for r in result["history"]] == [1, 2]
    assert "did not record it" in result["error"]
    ledger = client.get("/v1/privacy/ledger", headers=ADMIN).json()
    assert [r["round"] for r in ledger["rounds"]] == [1]


def flaky(failures: list[HubError]) -> tuple[list[dict[str, Any]], Any]:
    calls: list[dict[str, Any]] = []

    def post(url: str, token: str, row: dict[str, Any]) -> dict[str, Any]:
        calls.append(row)
        if failures:
            raise failures.pop(0)
        return {"stored": True}

    return calls, post


ROW = {"round": 1, "variant": "fl", "clients": 3, "epsilon": 0.8, "delta": 1e-6, "auc": None,
       "seconds": 0.1, "nodes": NAMES}  # fmt: skip


def test_the_recorder_retries_transient_failures_with_backoff() -> None:
    calls, post = flaky([HubError("unreachable", 0), HubError("busy", 503)])
    waits: list[float] = []
    recorder = LedgerRecorder("http://hub", Secret("t" * 20), "flower-1", post=post,
                              sleep=waits.append)  # fmt: skip
    recorder(ROW)
    assert len(calls) == 3 and waits == [0.5, 1.0]
    assert calls[0] == {"run_id": "flower-1", "round": 1, "epsilon_cumulative": 0.8,
                        "delta": 1e-6, "clients": 3, "auc": None, "nodes": NAMES}  # fmt: skip


def test_a_refusal_stops_at_once_and_an_unreachable_hub_after_the_retries() -> None:
    calls, post = flaky([HubError("hub refused the credentials (403)", 403)])
    waits: list[float] = []
    recorder = LedgerRecorder("http://hub", Secret("t" * 20), "flower-1", post=post,
                              sleep=waits.append)  # fmt: skip
    with pytest.raises(HubError, match=r"403.*The run stops here") as refused:
        recorder(ROW)
    assert len(calls) == 1 and waits == [] and refused.value.status == 403

    calls, post = flaky([HubError("unreachable", 0)] * 5)
    recorder = LedgerRecorder("http://hub", Secret("t" * 20), "flower-1", post=post,
                              sleep=waits.append)  # fmt: skip
    with pytest.raises(HubError, match="edgemark fl record"):
        recorder(ROW)
    assert len(calls) == 5 and waits == [0.5, 1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    ("config", "env", "message"),
    [
        ({}, {ENV_HUB_TOKEN: "t" * 20}, "set hub-url"),
        ({"hub-url": "hub:8000"}, {ENV_HUB_TOKEN: "t" * 20}, "set hub-url"),
        ({"hub-url": "http://hub", "noise-multiplier": 0.0}, {ENV_HUB_TOKEN: "t" * 20},
         "noise-multiplier is 0"),
        ({"hub-url": "http://hub"}, {}, "EDGEMARK_HUB_TOKEN is not set"),
    ],
)  # fmt: skip
def test_a_run_the_ledger_cannot_hold_is_refused_before_round_1(
    config: dict[str, Any], env: dict[str, str], message: str
) -> None:
    plan = deployment_plan(context(config))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        ledger_recorder(plan, config, env, "flower-1")


def test_without_a_token_nothing_is_sent_to_any_node(
    hub: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_HUB_TOKEN, raising=False)
    grid = AppGrid(make_client_app(), node_configs(tmp_path))
    with pytest.raises(ConfigError, match=ENV_HUB_TOKEN), task_identity():
        _main(grid, context(run_config(hub, tmp_path / "r.json")))  # type: ignore[arg-type]
    assert grid.sent == [] and not (tmp_path / "r.json").exists()
    monkeypatch.setenv(ENV_HUB_TOKEN, "wrong-token-0123456789")  # the hub refuses it
    with pytest.raises(HubError, match="No round was run"), task_identity():
        _main(grid, context(run_config(hub, tmp_path / "r.json")))  # type: ignore[arg-type]
    assert grid.sent == []


def test_node_names_a_bad_answer_refuses_the_run_a_silent_node_takes_no_part(
    client: httpx.Client, hub: ServerThread, tmp_path: Path
) -> None:
    configs = node_configs(tmp_path)
    configs[102]["node-name"] = "store 2; DROP"
    grid = AppGrid(make_client_app(), configs)
    config = run_config(hub, tmp_path / "r.json")
    recorder = LedgerRecorder(hub.url, Secret(ADMIN_TOKEN), "flower-1")
    refused = pytest.raises(ConfigError, match=r"node 102 answered .*'store 2; DROP'")
    with task_identity(), refused:
        run_deployment(grid, context(config), deployment_plan(context(config)), recorder)  # type: ignore[arg-type]
    assert {m.metadata.message_type for m in grid.sent} == {NAME_QUERY}
    assert client.get("/v1/privacy/ledger", headers=ADMIN).json()["rounds"] == []

    app = make_client_app()

    def silent_102(message: Any, ctx: Any) -> Any:
        if ctx.node_id == 102 and message.metadata.message_type == NAME_QUERY:
            raise RuntimeError("no query handler in this ClientApp")
        return app(message, ctx)

    del configs[102]["node-name"]
    grid = AppGrid(silent_102, configs)
    with task_identity():
        run_deployment(grid, context(config), deployment_plan(context(config)), recorder)  # type: ignore[arg-type]
    trained = {m.metadata.dst_node_id for m in grid.sent if m.metadata.message_type == "train"}
    assert trained == {100, 101}
    rounds = client.get("/v1/privacy/ledger", headers=ADMIN).json()["rounds"]
    assert [r["clients"] for r in rounds] == [2, 2, 2]
    assert json.loads((tmp_path / "r.json").read_text())["history"][0]["nodes"] == NAMES[:2]


def test_a_node_without_a_name_answers_a_clear_default() -> None:
    import flwr.app

    grid = AppGrid(make_client_app(), {7: {}})
    with task_identity():
        ask = flwr.app.Message(flwr.app.RecordDict(), dst_node_id=7, message_type=NAME_QUERY,
                               group_id="n")  # fmt: skip
        reply = grid.send_and_receive([ask])
    assert dict(reply[0].content.config_records["node"]) == {"name": "flower-node-7"}


def test_node_names_follow_the_hubs_enrolment_names() -> None:
    assert NODE_NAME.pattern == NAME_PATTERN
