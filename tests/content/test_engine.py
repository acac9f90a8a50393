"""ContentEngine over a pack built from the simulator's catalog: retrieval, composition,
guardrails with fallback and counters, escalation to a (fake) LLM, and the bundle path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgemark.bundle import TrustStore, build_bundle, verify_bundle
from edgemark.content import (
    ComposeRequest,
    ContentEngine,
    Filters,
    OpenAICompatBackend,
    bundle_files,
)
from edgemark.content._engine import SAFE_DEFAULTS
from edgemark.errors import ConfigError
from edgemark.sim import CatalogItem
from tests.content.conftest import AS_OF, needs_model
from tests.content.fake_llm import serve_fake_llm

pytestmark = needs_model
NOW = AS_OF + 3600.0


@pytest.fixture(scope="module")
def engine(pack_dir: Path) -> ContentEngine:
    e = ContentEngine.open(pack_dir)
    yield e
    e.close()


def test_headline_for_a_sku_states_its_catalog_facts(
    engine: ContentEngine, catalog_items: list[CatalogItem]
) -> None:
    item = next(i for i in catalog_items if i.in_stock)
    copy = engine.compose(ComposeRequest("headline", sku=item.sku, seed=1), now=NOW)
    assert copy.passages[0] == item.sku and copy.backend == "builtin"
    assert len(copy.variants) == 3 and len({v.id for v in copy.variants}) == 3
    for v in copy.variants:
        assert item.name in v.text and not v.safe_default
        assert v.id.startswith("headline-") and f"@{item.sku}#" in v.id
    assert any(f"{item.price:.2f} {item.currency}" in v.text for v in copy.variants)
    again = engine.compose(ComposeRequest("headline", sku=item.sku, seed=1), now=NOW)
    assert [v.id for v in again.variants] == [v.id for v in copy.variants]


def test_query_retrieval_respects_filters(
    engine: ContentEngine, catalog_items: list[CatalogItem]
) -> None:
    hits = engine.retrieve(
        "vegan shampoo", k=5, filters=Filters(category="beauty", in_stock=True), now=NOW
    )
    stock = {i.sku: i for i in catalog_items}
    assert hits and all(
        stock[h.passage.id].category == "beauty" and stock[h.passage.id].in_stock for h in hits
    )
    assert "shampoo" in hits[0].passage.text


def test_product_answers_come_from_the_faq(engine: ContentEngine) -> None:
    copy = engine.compose(
        ComposeRequest("product_answer", query="is delivery free on big orders?", surface="kiosk"),
        now=NOW,
    )
    assert copy.passages[0] == "faq-delivery#1"
    assert any("Delivery is free on orders over 50." in v.text for v in copy.variants)


def test_expired_products_are_not_used(
    engine: ContentEngine, catalog_items: list[CatalogItem]
) -> None:
    later = AS_OF + 31 * 86400.0
    assert all(h.passage.kind == "faq" for h in engine.retrieve("oat milk", k=5, now=later))
    copy = engine.compose(
        ComposeRequest("headline", sku=catalog_items[0].sku, in_stock=None), now=later
    )
    assert copy.variants[0].safe_default


def test_customer_names_block_copy_and_fall_back_to_a_safe_default(
    engine: ContentEngine, catalog_items: list[CatalogItem]
) -> None:
    item = catalog_items[0]
    before = engine.stats()
    brand = item.brand.split()[0]  # a customer who shares the brand's name must not be named
    copy = engine.compose(
        ComposeRequest("headline", sku=item.sku, in_stock=None, customer_names=(brand,)), now=NOW
    )
    assert [v.text for v in copy.variants] == [SAFE_DEFAULTS["headline"]]
    assert copy.blocked["pii_name"] == 3 and copy.blocked["safe_default"] == 1
    after = engine.stats()
    assert after["pii_name"] - before.get("pii_name", 0) == 3
    assert after["composed"] - before.get("composed", 0) == 1


def test_escalation_uses_the_llm_and_guards_its_output(
    pack_dir: Path, catalog_items: list[CatalogItem]
) -> None:
    item = next(i for i in catalog_items if i.in_stock)
    with serve_fake_llm() as fake:
        backend = OpenAICompatBackend(fake.url, "m")
        engine = ContentEngine.open(pack_dir, backend=backend)
        good = f"{item.name} for {item.price:.2f} {item.currency}"
        fake.reply = f"{good}\nMiracle prices: 0.01 {item.currency}"
        copy = engine.compose(ComposeRequest("headline", sku=item.sku, escalate=True), now=NOW)
        assert copy.backend == "openai" and not copy.fell_back
        assert [v.text for v in copy.variants] == [
            f"{item.name} for {item.price:.2f} {item.currency}"
        ]
        assert copy.blocked == {"banned": 1, "ungrounded": 1}
        fake.mode = "error"
        fallback = engine.compose(ComposeRequest("headline", sku=item.sku, escalate=True), now=NOW)
        assert fallback.fell_back and fallback.backend == "builtin" and len(fallback.variants) == 3
        assert engine.stats()["backend_fallback"] == 1
        plain = engine.compose(ComposeRequest("headline", sku=item.sku), now=NOW)
        assert plain.backend == "builtin" and len(fake.requests) == 2  # no escalation, no call
        engine.close()
        backend.close()


def test_bad_requests_and_packs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sku or a query"):
        ComposeRequest("headline")
    with pytest.raises(ConfigError, match="copy_type"):
        ComposeRequest("limerick", query="x")
    with pytest.raises(ConfigError, match="not a readable content pack"):
        ContentEngine.open(tmp_path)


def test_a_pack_travels_in_a_signed_bundle(pack_dir: Path, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    files = bundle_files(pack_dir)
    assert set(files) == {
        "content/pack.json",
        "content/index.sqlite",
        "content/embedder.int8.onnx",
        "content/tokenizer.json",
    }
    bundle = build_bundle(
        tmp_path / "b",
        name="copy",
        version="1",
        files=files,
        feature_spec_hash="x",
        offers=[],
        policy={},
        metrics={},
        signing_key=key,
        key_id="k1",
    )
    trust = TrustStore({"k1": key.public_key()})
    verify_bundle(bundle, trust)
    engine = ContentEngine.open(bundle / "content")
    assert engine.compose(ComposeRequest("headline", query="ceramic mug"), now=NOW).variants
    engine.close()
    info = json.loads((bundle / "content" / "pack.json").read_text())
    assert info["passages"] == 268
