"""The offer-rates release over the plain Flower apps: nodes answer from per-arm counts in
their .npz (or fail clearly without them), the ServerApp takes K finite floats per node and
nothing else, and the run config of a release is checked before anything is sent. An
in-process grid stands in for Flower (no process starts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.errors import ConfigError
from edgemark.federated import (
    calibrate_noise,
    deployment_run_config,
    node_rates,
    offer_rates_run_config,
    offer_rates_settings,
)

flwr = pytest.importorskip("flwr")
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict  # noqa: E402

from edgemark.federated._flower import make_client_app  # noqa: E402
from edgemark.federated._flower_deploy import _deployment_main  # noqa: E402
from edgemark.federated._flower_offers import (  # noqa: E402
    OFFER_RATES_QUERY,
    OfferRatesPlan,
    offer_task_of,
    rates_in,
    task_record,
)
from tests.federated.flower_support import AppGrid, context, task_identity  # noqa: E402

ARMS = ["none", "pct10", "bogo"]
# Per-arm (exposures, conversions) of three stores; store-2 never showed bogo (rate 0.5).
CENTER = [0.2, 0.3, 0.4]  # public: each store's rates lie within 0.15 of it (no clipping)
COUNTS = [
    ([200, 100, 100], [40, 30, 50]),
    ([150, 80, 90], [30, 20, 40]),
    ([100, 60, 0], [10, 18, 0]),
]


def npz_nodes(tmp_path: Path, with_counts: tuple[bool, ...] = (True, True, True)) -> dict[int, Any]:
    configs = {}
    for k, (exposures, conversions) in enumerate(COUNTS):
        path = tmp_path / f"store-{k}.npz"
        x, y = np.zeros((2, 3)), np.zeros(2)
        if with_counts[k]:  # the counts cover bogo before pct10: the node maps them by name
            arms = np.array(["bogo", "none", "pct10"])
            order = [2, 0, 1]
            np.savez(path, x=x, y=y, arms=arms, exposures=np.array(exposures)[order],
                     conversions=np.array(conversions)[order])  # fmt: skip
        else:
            np.savez(path, x=x, y=y)
        configs[10 + k] = {"data-path": str(path), "node-name": f"store-{k}"}
    return configs


def config(out: Path, **extra: Any) -> dict[str, Any]:
    release = offer_rates_run_config(ARMS, epsilon=40.0, center=CENTER, clip_norm=0.3)
    return {**release, "out": str(out), **extra}


def test_nodes_answer_from_their_npz_counts_and_the_plain_serverapp_writes_the_priors(
    tmp_path: Path,
) -> None:
    out = tmp_path / "result.json"
    truth = np.mean([node_rates(dict(zip(ARMS, e, strict=True)), dict(zip(ARMS, c, strict=True)),
                                ARMS) for e, c in COUNTS], axis=0)  # fmt: skip

    with task_identity(8):
        _deployment_main(AppGrid(make_client_app(), npz_nodes(tmp_path), run_id=8),
                         context(config(out), run_id=8))  # type: ignore[arg-type]  # fmt: skip

    result = json.loads(out.read_text())
    priors = result["offer_priors"]
    assert result["run_id"] == "flower-8" and result["kind"] == "offer-rates"
    assert result["history"][0]["clients"] == 3 and priors["absent"] == {} == priors["refused"]
    z = calibrate_noise(40.0, 1, 1.0)
    assert priors["noise_std"] == pytest.approx(z * 0.3 / 3, rel=1e-12)
    released = np.array([priors["rates"][a] for a in ARMS])
    assert np.abs(released - truth).max() < 4 * priors["noise_std"]
    assert truth[2] == pytest.approx((0.5 + 40 / 90 + 0.5) / 3)  # store-2's unseen arm: 0.5
    assert sorted(priors["policy_priors"]) == ["bogo", "pct10"]
    assert len(priors["policy_priors"]["bogo"]["mean"]) == 2 + 29


def test_a_node_without_counts_fails_clearly_and_counts_as_absent(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    nodes = npz_nodes(tmp_path, (True, False, True))
    with task_identity():
        _deployment_main(AppGrid(make_client_app(), nodes), context(config(out)))  # type: ignore[arg-type]
    priors = json.loads(out.read_text())["offer_priors"]
    assert list(priors["absent"]) == ["store-1"]
    assert (
        "holds no offer rates (arms, conversions, exposures missing)" in priors["absent"]["store-1"]
    )
    z = calibrate_noise(40.0, 1, 1.0)
    assert priors["noise_std"] == pytest.approx(z * 0.3 / 2, rel=1e-12)  # topped up, over 2

    nobody = npz_nodes(tmp_path, (False, False, False))
    with task_identity(), pytest.raises(ConfigError, match="nothing was released"):
        _deployment_main(AppGrid(make_client_app(), nobody), context(config(out)))  # type: ignore[arg-type]
    assert json.loads(out.read_text())["error"].startswith("ConfigError: none of the 3 nodes")


def reply_with(content: RecordDict) -> Message:
    ask = Message(RecordDict(), dst_node_id=1, message_type=OFFER_RATES_QUERY, group_id="o")
    return Message(content, reply_to=ask)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (RecordDict({"rates": ArrayRecord([np.array([0.1, 0.2])])}), r"shape \(2,\)"),
        (RecordDict({"rates": ArrayRecord([np.array([0.1, np.nan, 0.2])])}), "finite"),
        (RecordDict({"rates": ArrayRecord([np.array([1, 0, 1])])}), "int64"),
        (RecordDict({"rates": ArrayRecord([np.zeros(3), np.zeros(3)])}), "2 arrays"),
        (RecordDict({"rates": ArrayRecord([np.zeros(3)]), "n": ConfigRecord({"n": 80})}),
         r"\['rates', 'n'\]"),
        (RecordDict({"updates": ArrayRecord([np.zeros(3)])}), r"\['updates'\]"),
    ],
)  # fmt: skip
def test_a_reply_is_k_finite_floats_alone(content: RecordDict, message: str) -> None:
    with task_identity(), pytest.raises(ConfigError, match=message):
        rates_in(reply_with(content), 3)
    with task_identity():
        good = rates_in(reply_with(RecordDict({"rates": ArrayRecord([np.ones(3) / 4])})), 3)
    assert good.tolist() == [0.25, 0.25, 0.25]


def test_the_task_reaches_the_node_in_the_hub_task_apis_shape() -> None:
    cfg = offer_rates_run_config(ARMS, epsilon=3, center=[0.2, 0.3, 0.4], clip_norm=0.15,
                                 experiment="exp-7")  # fmt: skip
    plan = OfferRatesPlan(offer_rates_settings(cfg), noise_std=0.04)
    with task_identity():
        message = Message(RecordDict({"task": task_record(plan)}), dst_node_id=1,
                          message_type=OFFER_RATES_QUERY, group_id="o")  # fmt: skip
    assert offer_task_of(message) == {
        "params": [0.2, 0.3, 0.4],
        "settings": {"kind": "offer_rates", "offers": ARMS, "clip_norm": 0.15,
                     "noise_std": 0.04, "experiment": "exp-7"},
        "shards_dir": "",
    }  # fmt: skip
    bare = OfferRatesPlan(offer_rates_settings(offer_rates_run_config(ARMS, epsilon=3)))
    with task_identity():
        message = Message(RecordDict({"task": task_record(bare)}), dst_node_id=1,
                          message_type=OFFER_RATES_QUERY, group_id="o")  # fmt: skip
    assert offer_task_of(message)["params"] == [0.0, 0.0, 0.0]  # no centre: rates as they are


def test_run_configs_of_both_kinds_are_built_and_checked_as_the_serverapp_reads_them() -> None:
    model = deployment_run_config("model", rounds=10, epsilon=4.0, hub_url="http://hub")
    assert model["kind"] == "model" and model["hub-url"] == "http://hub"
    offers = deployment_run_config("offer-rates", offers="none,pct10", epsilon=3.0,
                                   center="0.2,0.25", out="/srv/r.json")  # fmt: skip
    settings = offer_rates_settings(offers)
    assert settings.arms == ("none", "pct10") and settings.center == (0.2, 0.25)
    assert settings.noise_multiplier == pytest.approx(calibrate_noise(3.0, 1, 1.0))
    for kind, given, message in [
        ("model", {"offers": "none,a"}, "offers do not apply to a model run"),
        ("offer-rates", {"offers": "none,a", "epsilon": 3.0, "sample_rate": 0.5},
         "sample-rate do not apply to an offer-rates run"),
        ("offer-rates", {"offers": "none,a"}, "needs its arms .* and its budget"),
        ("gossip", {}, "kind must be one of"),
    ]:  # fmt: skip
        with pytest.raises(ConfigError, match=message):
            deployment_run_config(kind, **given)
