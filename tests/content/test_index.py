"""The passage index against brute force, with filters, TTL and atomic replacement."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from edgemark.content import Filters, Passage, PassageIndex, write_index
from edgemark.content._index import RRF_K, fts_query, fuse
from edgemark.errors import ConfigError

DIM = 384


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    """Vectors around 40 centres, like embeddings of similar products."""
    rng = np.random.default_rng(seed)
    centres = _unit(rng, 40)
    x = centres[rng.integers(40, size=n)] + 0.08 * rng.standard_normal((n, DIM)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _passages(n: int) -> list[Passage]:
    cats, locales = ("home", "beauty", "grocery"), ("en-GB", "en-IE", None)
    return [
        Passage(
            id=f"p{i}",
            text=f"item {i} colour {'red' if i % 7 == 0 else 'blue'} word{i % 50}",
            kind="product" if i % 10 else "faq",
            category=cats[i % 3],
            in_stock=i % 4 != 0,
            locale=locales[i % 3],
            expires_at=None if i % 5 else 1000.0,
        )
        for i in range(n)
    ]


@pytest.fixture
def index(tmp_path: Path) -> PassageIndex:
    path = write_index(tmp_path / "i.sqlite", _passages(3000), _clustered(3000))
    ix = PassageIndex(path)
    yield ix
    ix.close()


def test_round_trip_keeps_passages_and_vectors(tmp_path: Path) -> None:
    passages, vectors = _passages(50), _clustered(50)
    ix = PassageIndex(write_index(tmp_path / "i.sqlite", passages, vectors, {"k": "v"}))
    assert ix.passages == passages
    np.testing.assert_allclose(ix.vectors, vectors, atol=5e-4)  # stored as float16
    assert ix.meta["k"] == "v" and ix.meta["count"] == 50


def test_vector_search_matches_brute_force(index: PassageIndex) -> None:
    rng = np.random.default_rng(1)
    keep = index.mask(Filters(), now=0.0)
    recall = []
    for q in range(100):
        query = index.vectors[q] + 0.05 * rng.standard_normal(DIM).astype(np.float32)
        query /= np.linalg.norm(query)
        exact = np.argsort(-(index.vectors @ query))[:10].tolist()
        found = index.vector_search(query, keep, 10)
        recall.append(len(set(found) & set(exact)) / 10)
        assert found[0] == exact[0]
    assert np.mean(recall) >= 0.95


def test_filters_and_ttl(index: PassageIndex) -> None:
    query = index.vectors[12]
    f = Filters(category="grocery", in_stock=True, locale="en-IE")
    hits = index.search(query, "red", k=20, filters=f, now=0.0)
    assert hits
    for h in hits:
        p = h.passage
        assert p.category == "grocery" and p.in_stock is True and p.locale in ("en-IE", None)
    live = index.search(query, "item", k=50, now=2000.0)
    assert all(h.passage.expires_at is None for h in live)
    assert any(h.passage.expires_at == 1000.0 for h in index.search(query, "item", k=50, now=0.0))
    faq = index.search(query, "item", k=30, filters=Filters(kinds=("faq",)), now=0.0)
    assert faq and all(h.passage.kind == "faq" for h in faq)


def test_text_search_finds_keywords_and_ignores_fts_syntax(index: PassageIndex) -> None:
    keep = index.mask(Filters(), now=0.0)
    rows = index.text_search("word7", keep, 100)
    assert rows and all(index.passages[r].text.endswith("word7") for r in rows)
    assert index.text_search('red" OR NEAR(* "blue', keep, 5)  # no FTS5 syntax error
    assert fts_query("the price of (oat) milk?") == '"milk" OR "oat" OR "price"'
    assert index.text_search("the of", keep, 5) == []


def test_common_and_unknown_words_are_left_to_the_vector_side() -> None:
    df = {"olive": 6000, "oil": 40, "nordbay": 3, "w1": 1, "w2": 2, "w3": 3, "w4": 4, "w5": 5}
    assert fts_query("olive oil Nordbay zzz", df, 100_000) == '"nordbay" OR "oil"'
    assert fts_query("olive oil", df, 10_000) == '"oil"'  # 6000 of 10k is common
    assert fts_query("olive oil", df, 200_000) == '"oil" OR "olive"'  # 3% of 200k is not
    many = "oil nordbay w1 w2 w3 w4 w5"
    assert fts_query(many, df, 100_000) == '"nordbay" OR "w1" OR "w2" OR "w3" OR "w4" OR "w5"'


def test_reciprocal_rank_fusion() -> None:
    passages = _passages(4)
    hits = fuse(passages, [0, 1, 2], [2, 3], k=4)
    # p2 is in both lists; p1 (vector rank 2) and p3 (text rank 2) tie and keep row order.
    assert [h.passage.id for h in hits] == ["p2", "p0", "p1", "p3"]
    assert hits[0].score == pytest.approx(1 / (RRF_K + 3) + 1 / (RRF_K + 1))
    assert (hits[0].vector_rank, hits[0].text_rank) == (3, 1)


def test_replacement_is_atomic_for_readers(tmp_path: Path) -> None:
    path = tmp_path / "i.sqlite"
    write_index(path, _passages(10), _clustered(10))
    reader = PassageIndex(path)
    write_index(path, _passages(20), _clustered(20, seed=3))
    assert len(reader) == 10 and len(PassageIndex(path)) == 20
    assert reader.search(reader.vectors[0], "item", k=3, now=0.0)
    with pytest.raises(ConfigError, match="unique"):
        write_index(path, _passages(5) + _passages(1), _clustered(6))
    assert len(PassageIndex(path)) == 20  # a failed write leaves the old index
    assert [p.name for p in tmp_path.iterdir()] == ["i.sqlite"]


def test_concurrent_searches(index: PassageIndex) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            for i in range(30):
                index.search(index.vectors[i], f"word{i}", k=5, now=0.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="embeddings"):
        write_index(tmp_path / "x.sqlite", _passages(3), _clustered(2))
    with pytest.raises(ConfigError, match="does not exist"):
        PassageIndex(tmp_path / "missing.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ConfigError, match="not a content index"):
        PassageIndex(tmp_path / "junk.sqlite")
