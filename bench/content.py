"""Bench: the content plane on this machine.

Embedding latency per query (numpy float32, ONNX float32 and ONNX INT8, one thread) and
INT8's agreement with float on the pack; retrieval latency on 100,000 indexed chunks;
compose latency end to end (embed, hybrid retrieval over the 100k, template composer,
guardrails); index size on disk; the quality figures (Recall@5, MRR, grounding rate) on
the simulator's catalog; and, when ``apsw`` and ``sqlite-vec`` are installed, KNN over
the same 100k vectors in a sqlite-vec table.

The 100k index holds the 268 real passages of the simulated pack (real embeddings) plus
99,732 synthetic catalog-like chunks whose vectors are random unit vectors: embedding
100k chunks with MiniLM would take longer than the bench may run. Quality figures use
real embeddings only. Prints one JSON object: {"bench": "content", "figures": {...}}.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.content import (
    ComposeRequest,
    ContentEngine,
    Embedder,
    Filters,
    Passage,
    PassageIndex,
    build_pack,
    evaluate,
    write_index,
)
from edgemark.content._pack import INDEX_FILE
from edgemark.sim import generate_catalog, labelled_queries, write_catalog, write_docs

N_CHUNKS = 100_000
AS_OF = 1_767_571_200.0
NOW = AS_OF + 3600.0
WORDS = (
    "organic vegan cotton wool steel oak bamboo navy sand ivory charcoal olive lamp mug "
    "towel scarf jacket socks shampoo lotion cream soap tea coffee granola oil chocolate "
    "earbuds speaker cable plug case bank battery warranty hours litre pack set"
).split()


def _pct(samples: list[float]) -> tuple[float, float]:
    a = np.asarray(samples) * 1e6
    return round(float(np.percentile(a, 50)), 1), round(float(np.percentile(a, 99)), 1)


def _embed_latency(embedders: list[Embedder], texts: list[str]) -> list[dict[str, float]]:
    """Wall and CPU (this thread) P50/P99 per embedder, calls interleaved so both see the
    same machine load; ONNX Runtime runs with one thread, in this one, so CPU time is the
    cost without the waits for a core that other processes cause."""
    for t in texts[:20]:
        for e in embedders:
            e.embed_one(t)  # warm up
    wall: list[list[float]] = [[] for _ in embedders]
    cpu: list[list[float]] = [[] for _ in embedders]
    for t in texts:
        for k, e in enumerate(embedders):
            w0, c0 = time.perf_counter(), time.thread_time()
            e.embed_one(t)
            cpu[k].append(time.thread_time() - c0)
            wall[k].append(time.perf_counter() - w0)
    out = []
    for w, c in zip(wall, cpu, strict=True):
        (p50, p99), (cpu50, cpu99) = _pct(w), _pct(c)
        out.append({"p50": p50, "p99": p99, "cpu_p50": cpu50, "cpu_p99": cpu99})
    return out


def _synthetic(n: int, rng: np.random.Generator) -> tuple[list[Passage], np.ndarray]:
    cats = ("grocery", "home", "beauty", "fashion", "electronics")
    passages = []
    for i in range(n):
        words = " ".join(rng.choice(WORDS, 8))
        price = f"{rng.integers(1, 200)}.99"
        passages.append(
            Passage(
                id=f"syn-{i:06d}",
                text=f"Item {i}: {words}. Price: {price} GBP. In stock.",
                kind="product",
                doc="synthetic",
                category=cats[i % 5],
                in_stock=bool(i % 7),
                locale="en-GB",
                facts={"name": f"Item {i}", "price": price, "currency": "GBP"},
            )
        )
    vectors = rng.standard_normal((n, 384)).astype(np.float32)
    return passages, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _big_pack(pack: Path, out: Path) -> Path:
    """A copy of ``pack`` whose index also holds synthetic chunks up to ``N_CHUNKS``."""
    shutil.copytree(pack, out)
    real = PassageIndex(pack / INDEX_FILE)
    passages, vectors = _synthetic(N_CHUNKS - len(real), np.random.default_rng(0))
    write_index(
        out / INDEX_FILE,
        real.passages + passages,
        np.vstack([real.vectors, vectors]),
        dict(real.meta),
    )
    real.close()
    return out


def main() -> dict[str, Any]:
    started = time.perf_counter()
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        items = generate_catalog(7)
        write_catalog(items, root / "catalog.jsonl")
        write_docs(root / "docs")
        report = build_pack(root / "catalog.jsonl", root / "docs", root / "pack", as_of=AS_OF)
        figures["int8_cosine_min"] = report.int8_cosine_min
        figures["int8_cosine_mean"] = report.int8_cosine_mean
        figures["embedder_default"] = report.embedder
        figures["pack_build_s"] = round(report.seconds, 1)

        queries = [q.query for q in labelled_queries(items, 7)]
        texts = (queries * 4)[:300]
        numpy_enc = Embedder.from_model("numpy")
        fp32 = Embedder.from_model("fp32", work_dir=root / "fp32")
        int8 = Embedder.from_files(
            root / "pack" / "embedder.int8.onnx", root / "pack" / "tokenizer.json", "int8"
        )
        with _one_blas_thread():  # as on a node (the edge CLI sets OPENBLAS_NUM_THREADS=1)
            f_np, f32, i8 = _embed_latency([numpy_enc, fp32, int8], texts)
        for name, m in (("numpy", f_np), ("fp32", f32), ("int8", i8)):
            figures[f"embed_p50_us_{name}"], figures[f"embed_p99_us_{name}"] = m["p50"], m["p99"]
            figures[f"embed_cpu_p50_us_{name}"] = m["cpu_p50"]
            figures[f"embed_cpu_p99_us_{name}"] = m["cpu_p99"]
        figures["int8_speedup_p50"] = round(f32["p50"] / i8["p50"], 2)
        figures["int8_speedup_p99"] = round(f32["p99"] / i8["p99"], 2)
        figures["int8_speedup_cpu_p50"] = round(f32["cpu_p50"] / i8["cpu_p50"], 2)
        figures["int8_speedup_cpu_p99"] = round(f32["cpu_p99"] / i8["cpu_p99"], 2)

        quality = evaluate(root / "pack", root / "catalog.jsonl", now=NOW)
        figures.update(
            recall_at_5=round(quality["recall_at_5"], 4),
            mrr=round(quality["mrr"], 4),
            grounding_rate=quality["grounding_rate"],
            rouge_l=round(quality["rouge_l"], 4),
            guardrail_rates=quality["guardrail_rates"],
        )

        big = _big_pack(root / "pack", root / "pack100k")
        figures["index_chunks"] = N_CHUNKS
        figures["index_bytes_100k"] = (big / INDEX_FILE).stat().st_size
        engine = ContentEngine.open(big)
        qvecs = int8.embed(queries)
        times = []
        for _ in range(5):
            for q, vec in zip(queries, qvecs, strict=True):
                start = time.perf_counter()
                engine.index.search(vec, q, k=5, now=NOW)
                times.append(time.perf_counter() - start)
        figures["retrieve_p50_us_100k"], figures["retrieve_p99_us_100k"] = _pct(
            times[len(queries) :]
        )
        exact_hits = 0
        for vec in qvecs:
            exact = np.argsort(-(engine.index.vectors @ vec))[:10]
            found = engine.index.vector_search(vec, engine.index.mask(Filters(), NOW), 10)
            exact_hits += len(set(found) & set(exact.tolist()))
        figures["vector_recall_at_10_vs_exact_100k"] = round(exact_hits / (10 * len(qvecs)), 4)

        requests = [
            ComposeRequest("offer_blurb", query=q, offer_name="10% off", surface="app", seed=i)
            for i, q in enumerate(queries[:64])
        ]
        requests += [
            ComposeRequest("headline", sku=i.sku, in_stock=None, seed=k)
            for k, i in enumerate(items[:64])
        ]
        times, cpu = [], []
        with _one_blas_thread():  # as on a node; CPU time leaves out the waits for a core
            for _ in range(3):
                for r in requests:
                    start, cpu0 = time.perf_counter(), time.thread_time()
                    engine.compose(r, now=NOW)
                    cpu.append(time.thread_time() - cpu0)
                    times.append(time.perf_counter() - start)
        figures["compose_p50_us"], figures["compose_p99_us"] = _pct(times[len(requests) :])
        figures["compose_cpu_p50_us"], figures["compose_cpu_p99_us"] = _pct(cpu[len(requests) :])
        figures.update(_variant_choice(root / "variants.db"))
        figures.update(_sqlite_vec(engine.index, qvecs, root / "vec0.sqlite"))
        engine.close()
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    return {"bench": "content", "figures": figures}


def _variant_choice(path: Path) -> dict[str, float]:
    """What the node's variant bandit adds to a compose: the exact Thompson probabilities
    of four phrasings after an update (the grid integral), and a choice written to the
    variant log (committed) with the probabilities cached."""
    from edgemark.edge._variants import VariantBandit, thompson_probabilities

    rng = np.random.default_rng(1)
    times = []
    for _ in range(300):
        alpha, beta = rng.integers(1, 200, 4), rng.integers(100, 5000, 4)
        start = time.perf_counter()
        thompson_probabilities(alpha, beta)
        times.append(time.perf_counter() - start)
    figures = dict(zip(("thompson_p50_us", "thompson_p99_us"), _pct(times[20:]), strict=True))
    bandit = VariantBandit(path, seed=0)
    candidates = [(f"offer_blurb-{i}@sku#x", f"offer_blurb-{i}") for i in range(4)]
    times = []
    for k in range(600):
        start = time.perf_counter()
        bandit.choose("offer_blurb", candidates, decision_id=f"d{k}", offer="pct10", ts=0.0)
        times.append(time.perf_counter() - start)
    bandit.close()
    figures["variant_choose_p50_us"], figures["variant_choose_p99_us"] = _pct(times[50:])
    return figures


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1):
        yield


def _sqlite_vec(index: PassageIndex, qvecs: np.ndarray, path: Path) -> dict[str, Any]:
    """The same 100k vectors in a sqlite-vec ``vec0`` table (float32, cosine, category and
    in-stock metadata columns), loaded through ``apsw`` (its own SQLite can load
    extensions; this Python's sqlite3 cannot): KNN k=10 with a filter, P50/P99 and size."""
    try:
        import apsw
        import sqlite_vec
    except ImportError:
        return {"sqlite_vec": "not measured: pip install apsw sqlite-vec"}
    con = apsw.Connection(str(path))
    con.enable_load_extension(True)
    con.load_extension(sqlite_vec.loadable_path())
    con.execute(
        "CREATE VIRTUAL TABLE vec USING vec0(embedding float[384] distance_metric=cosine,"
        " category text, in_stock integer)"
    )
    vectors = np.ascontiguousarray(index.vectors, dtype=np.float32)
    with con:
        con.executemany(
            "INSERT INTO vec(rowid, embedding, category, in_stock) VALUES (?,?,?,?)",
            (
                (i + 1, vectors[i].tobytes(), p.category or "", int(bool(p.in_stock)))
                for i, p in enumerate(index.passages)
            ),
        )
    times = []
    for _ in range(3):
        for vec in qvecs:
            start = time.perf_counter()
            con.execute(
                "SELECT rowid, distance FROM vec WHERE embedding MATCH ? AND k = 10"
                " AND in_stock = 1",
                (np.asarray(vec, dtype=np.float32).tobytes(),),
            ).fetchall()
            times.append(time.perf_counter() - start)
    con.close()
    p50, p99 = _pct(times[len(qvecs) :])
    return {
        "sqlite_vec": f"measured, not used: vec0 {sqlite_vec.__version__} via apsw",
        "sqlite_vec_knn_p50_us_100k": p50,
        "sqlite_vec_knn_p99_us_100k": p99,
        "sqlite_vec_bytes_100k": path.stat().st_size,
    }


if __name__ == "__main__":
    print(json.dumps(main()))
