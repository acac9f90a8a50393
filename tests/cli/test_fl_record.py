"""``edgemark fl record`` against a real hub: a deployment run's result file goes into the
privacy ledger once (posting it again changes nothing), a malformed file is refused with
a clear message, an offer-rates release is one round; and ``edgemark fl app`` writes the
project of a deployment run of either kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from edgemark.cli._app import app
from edgemark.cli._exit_codes import ExitCode
from edgemark.federated import epsilon_spent
from edgemark.federated._deploy import write_result

pytest.importorskip("fastapi")
from edgemark.hub import HubSettings, Secret, ServerThread
from tests.hub._support import ADMIN, ADMIN_TOKEN, enrol_node

ENV = {"EDGEMARK_ADMIN_TOKEN": ADMIN_TOKEN}
NAMES = ["store-a", "store-b"]


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[ServerThread]:
    settings = HubSettings(admin_token=Secret(ADMIN_TOKEN),
                           database_url=f"sqlite:///{tmp_path / 'hub.db'}",
                           bundle_dir=tmp_path / "bundles")  # fmt: skip
    with ServerThread(settings) as server:
        yield server


def result_file(path: Path, rounds: int, z: float = 1.5) -> Path:
    history = [{"round": r, "variant": "fl", "clients": 2, "epsilon": epsilon_spent(r, z, 1.0),
                "delta": 1e-6, "auc": None, "seconds": 0.2, "nodes": NAMES}
               for r in range(1, rounds + 1)]  # fmt: skip
    write_result(path, "flower-9", history, {}, {}, "HubError: hub unreachable")
    return path


def test_record_posts_the_rounds_once(hub: ServerThread, tmp_path: Path) -> None:
    with httpx.Client(base_url=hub.url, timeout=10) as client:
        ids = [enrol_node(client, name)[0] for name in NAMES]
        runner = CliRunner()
        path = result_file(tmp_path / "result.json", 3)
        first = runner.invoke(app, ["fl", "record", str(path), "--hub", hub.url], env=ENV)
        again = runner.invoke(app, ["fl", "record", str(path), "--hub", hub.url, "--json"],
                              env=ENV)  # fmt: skip
        ledger = client.get("/v1/privacy/ledger", headers=ADMIN).json()
    assert first.exit_code == 0, first.output
    assert "flower-9: 3 rounds in the ledger (3 new)" in first.stdout
    assert again.exit_code == 0 and json.loads(again.stdout)["new"] == 0
    assert [r["round"] for r in ledger["rounds"]] == [1, 2, 3]
    spent = epsilon_spent(3, 1.5, 1.0)
    assert {n["node_id"]: n["epsilon_federated"] for n in ledger["nodes"]} == {
        i: pytest.approx(spent, rel=1e-12) for i in ids
    }


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ("not json", ExitCode.CONFIG, "is not JSON"),
        ('{"history": []}', ExitCode.CONFIG, "has no run_id"),
        ('{"run_id": "flower-1", "history": []}', ExitCode.CONFIG, "holds no rounds"),
        ('{"run_id": "flower-1", "history": [{"round": 1, "epsilon": 1.0, "delta": 1e-6, '
         '"clients": 2, "auc": null, "nodes": ["store a"]}]}', ExitCode.CONFIG, "invalid nodes"),
        ('{"run_id": "flower-1", "history": [{"round": 0, "epsilon": -1, "delta": 1e-6, '
         '"clients": 2, "nodes": []}]}', ExitCode.CONFIG, "invalid round, epsilon"),
        ('{"run_id": "flower-1", "history": [{"round": 1, "epsilon": null, "delta": 1e-6, '
         '"clients": 2, "nodes": []}]}', ExitCode.PRIVACY, "trained without DP"),
    ],
)  # fmt: skip
def test_record_refuses_a_malformed_file(
    hub: ServerThread, tmp_path: Path, text: str, code: ExitCode, message: str
) -> None:
    path = tmp_path / "result.json"
    path.write_text(text)
    result = CliRunner().invoke(app, ["fl", "record", str(path), "--hub", hub.url], env=ENV)
    assert result.exit_code == code, result.output
    assert message in " ".join(result.output.split())


def test_record_says_when_the_file_or_the_hub_is_missing(tmp_path: Path) -> None:
    runner = CliRunner()
    gone = runner.invoke(app, ["fl", "record", str(tmp_path / "nope.json")], env=ENV)
    assert gone.exit_code == ExitCode.CONFIG and "cannot read the result file" in gone.output
    path = result_file(tmp_path / "result.json", 1)
    down = runner.invoke(app, ["fl", "record", str(path), "--hub", "http://127.0.0.1:9"],
                         env=ENV)  # fmt: skip
    assert down.exit_code == ExitCode.HUB_REFUSED and "unreachable" in down.output


def test_app_writes_a_project_for_the_hub_and_the_nodes_journals(tmp_path: Path) -> None:
    pytest.importorskip("dp_accounting")
    args = ["fl", "app", str(tmp_path / "fl-app"), "--rounds", "10", "--epsilon", "4",
            "--hub-url", "http://hub:8000", "--out", "/srv/fl.json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "fl-app" / "pyproject.toml").read_text()
    assert 'serverapp = "edgemark.hub._flower_app:server_app"' in text
    assert 'clientapp = "edgemark.edge._flower_client:client_app"' in text
    assert 'hub-url = "http://hub:8000"' in text and "rounds = 10" in text
    z = float(next(ln for ln in text.splitlines() if ln.startswith("noise-multiplier"))
              .split("=")[1])  # fmt: skip
    assert epsilon_spent(10, z, 1.0) <= 4.0 < epsilon_spent(10, z * 0.99, 1.0)
    assert "token" not in text.lower()  # the hub token never goes into the run config


def test_record_takes_an_offer_rates_release_as_one_round(
    hub: ServerThread, tmp_path: Path
) -> None:
    z = 1.65
    row = {"round": 1, "variant": "offer-rates", "clients": 2, "delta": 1e-6, "auc": None,
           "epsilon": epsilon_spent(1, z, 1.0), "seconds": 0.1, "nodes": NAMES}  # fmt: skip
    extra = {"kind": "offer-rates", "offer_priors": {"arms": ["none", "pct10"]}}
    path = tmp_path / "release.json"
    write_result(path, "flower-12", [row], {}, {}, None, extra=extra)
    with httpx.Client(base_url=hub.url, timeout=10) as client:
        ids = [enrol_node(client, name)[0] for name in NAMES]
        result = CliRunner().invoke(app, ["fl", "record", str(path), "--hub", hub.url], env=ENV)
        ledger = client.get("/v1/privacy/ledger", headers=ADMIN).json()
    assert result.exit_code == 0, result.output
    assert "flower-12: 1 rounds in the ledger (1 new)" in result.stdout
    assert [(r["run_id"], r["auc"]) for r in ledger["rounds"]] == [("flower-12", None)]
    assert {n["node_id"]: n["epsilon_federated"] for n in ledger["nodes"]} == {
        i: pytest.approx(epsilon_spent(1, z, 1.0), rel=1e-12) for i in ids
    }
    write_result(path, "flower-12", [row, {**row, "round": 2}], {}, {}, None, extra=extra)
    twice = CliRunner().invoke(app, ["fl", "record", str(path), "--hub", hub.url], env=ENV)
    assert twice.exit_code == ExitCode.CONFIG
    assert "an offer-rates release is exactly one round" in " ".join(twice.output.split())


def test_app_writes_an_offer_rates_project_the_serverapp_accepts(tmp_path: Path) -> None:
    import tomllib

    pytest.importorskip("dp_accounting")
    from edgemark.federated import calibrate_noise, offer_rates_settings

    args = ["fl", "app", str(tmp_path / "fl-app"), "--kind", "offer-rates", "--offers",
            "none,pct10,bogo", "--center", "0.2,0.3,0.4", "--epsilon", "3", "--clip-norm",
            "0.15", "--hub-url", "http://hub:8000", "--out", "/srv/priors.json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    text = (tmp_path / "fl-app" / "pyproject.toml").read_text()
    config = tomllib.loads(text)["tool"]["flwr"]["app"]["config"]
    assert config["kind"] == "offer-rates" and config["offers"] == "none,pct10,bogo"
    assert "rounds" not in config and "noise-multiplier" not in config
    settings = offer_rates_settings(config)
    assert settings.center == (0.2, 0.3, 0.4) and settings.clip_norm == 0.15
    assert settings.noise_multiplier == pytest.approx(calibrate_noise(3.0, 1, 1.0))
    assert 'serverapp = "edgemark.hub._flower_app:server_app"' in text
    refusals = [(["--rounds", "5"], "rounds do not apply to an offer-rates run"),
                (["--center", "0.2,0.3"], "must hold 3 comma-separated rates")]  # fmt: skip
    for bad, message in refusals:
        refused = CliRunner().invoke(app, [*args[:-4], *bad])
        assert refused.exit_code == ExitCode.CONFIG, refused.output
        assert message in " ".join(refused.output.split())
