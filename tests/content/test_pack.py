"""Content pack inputs: catalog validation, FAQ chunking, TTL, bundle file names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgemark.content import bundle_files, read_catalog
from edgemark.content._pack import doc_passages, product_passage
from edgemark.errors import ConfigError
from edgemark.sim import BANNED_CLAIMS


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_catalog_rows_are_validated_with_line_numbers(tmp_path: Path) -> None:
    good = json.dumps({"sku": "a", "name": "A", "category": "home", "price": 2, "currency": "GBP"})
    assert len(read_catalog(_write(tmp_path / "ok.jsonl", [good, "", good]))) == 2
    with pytest.raises(ConfigError, match=r"bad.jsonl:2 is not JSON"):
        read_catalog(_write(tmp_path / "bad.jsonl", [good, "{oops"]))
    with pytest.raises(ConfigError, match=r":1 lacks price"):
        read_catalog(
            _write(
                tmp_path / "miss.jsonl",
                [json.dumps({"sku": "a", "name": "A", "category": "x", "currency": "E"})],
            )
        )
    neg = json.dumps({"sku": "a", "name": "A", "category": "x", "price": -1, "currency": "E"})
    with pytest.raises(ConfigError, match="price must be a number"):
        read_catalog(_write(tmp_path / "neg.jsonl", [neg]))
    with pytest.raises(ConfigError, match="no products"):
        read_catalog(_write(tmp_path / "empty.jsonl", [""]))
    with pytest.raises(ConfigError, match="does not exist"):
        read_catalog(tmp_path / "nope.jsonl")


def test_product_passage_states_price_stock_and_facts() -> None:
    row = {
        "sku": "s1",
        "name": "Mug",
        "category": "home",
        "price": 6.5,
        "currency": "EUR",
        "in_stock": False,
        "locale": "en-IE",
        "attributes": {"colour": "sand"},
    }
    p = product_passage(row, expires_at=10.0)
    assert p.text.endswith("Price: 6.50 EUR. Out of stock.") and "colour: sand" in p.text
    assert (p.id, p.kind, p.category, p.in_stock, p.locale, p.expires_at) == (
        "s1",
        "product",
        "home",
        False,
        "en-IE",
        10.0,
    )
    assert p.facts["price"] == "6.50" and p.facts["attributes"] == {"colour": "sand"}


def test_docs_are_chunked_by_paragraph_with_tone_and_banned(sample_dir: Path) -> None:
    passages, tone, banned = doc_passages(sample_dir / "docs")
    ids = [p.id for p in passages]
    assert "faq-returns#0" in ids and "faq-returns#2" in ids and len(ids) == len(set(ids)) == 18
    first = next(p for p in passages if p.id == "faq-delivery#1")
    assert first.text == "Delivery: Delivery is free on orders over 50." and first.kind == "faq"
    assert tone.startswith("# Tone of voice") and banned == list(BANNED_CLAIMS)
    with pytest.raises(ConfigError, match="does not exist"):
        doc_passages(sample_dir / "missing")


def test_bundle_files_need_a_pack(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a content pack"):
        bundle_files(tmp_path)
