"""The simulated catalog, docs and labelled queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgemark.errors import SimError
from edgemark.sim import (
    CATEGORIES,
    generate_catalog,
    labelled_queries,
    reference_copy,
    write_catalog,
    write_docs,
)


def test_catalog_is_deterministic_and_covers_the_worlds_skus() -> None:
    items = generate_catalog(7)
    assert items == generate_catalog(7) and items != generate_catalog(8)
    assert [i.sku for i in items] == [f"sku-{c}-{k:03d}" for c in CATEGORIES for k in range(50)]
    assert all(i.price > 0 and f"{i.price:.2f}".endswith("9") for i in items)
    assert {i.currency for i in items if i.locale == "en-GB"} == {"GBP"}
    assert 0.7 < sum(i.in_stock for i in items) / len(items) < 0.97
    phone_cases = [i for i in items if i.product_type == "phone case"]
    assert phone_cases and all("battery life" not in i.attributes for i in phone_cases)
    with pytest.raises(SimError, match="per_category"):
        generate_catalog(1, per_category=0)


def test_labelled_queries_name_every_matching_product() -> None:
    items = generate_catalog(7)
    queries = labelled_queries(items, 7)
    assert len(queries) == 80 and queries == labelled_queries(items, 7)
    by_sku = {i.sku: i for i in items}
    for q in (q for q in queries if q.kind == "product"):
        first = by_sku[q.relevant[0]]
        assert first.brand in q.query and first.product_type in q.query
        matching = [
            i.sku
            for i in items
            if i.brand == first.brand
            and i.product_type == first.product_type
            and any(v in q.query for v in i.attributes.values())
        ]
        assert set(q.relevant) <= set(matching)


def test_files_and_reference_copy(tmp_path: Path) -> None:
    items = generate_catalog(3, per_category=2)
    rows = [
        json.loads(line)
        for line in write_catalog(items, tmp_path / "c.jsonl").read_text().splitlines()
    ]
    assert [r["sku"] for r in rows] == [i.sku for i in items]
    docs = write_docs(tmp_path / "docs")
    assert {"tone.md", "banned.txt", "faq-returns.md"} <= {p.name for p in docs.iterdir()}
    assert reference_copy(items[0]).startswith(items[0].name)
    assert f"{items[0].price:.2f} {items[0].currency}" in reference_copy(items[0])
