"""Bench: the content plane on this machine.

Embedding latency per query (float32 vs INT8 ONNX, one thread) and their agreement on the
pack; retrieval latency on 100,000 indexed chunks; compose latency end to end (embed,
hybrid retrieval over the 100k, template composer, guardrails); index size on disk; and
the quality figures (Recall@5, MRR, grounding rate) on the simulator's catalog.

The 100k index holds the 268 real passages of the simulated pack (real embeddings) plus
99,732 synthetic catalog-like chunks whose vectors are random unit vectors: embedding
100k chunks with MiniLM would take longer than the bench may run. Quality figures use
real embeddings only. Prints one JSON object: {"bench": "content", "figures": {...}}.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
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
        fp32 = Embedder.from_model("fp32", work_dir=root / "fp32")
        int8 = Embedder.from_files(
            root / "pack" / "embedder.int8.onnx", root / "pack" / "tokenizer.json", "int8"
        )
        f32, i8 = _embed_latency([fp32, int8], texts)
        for name, m in (("fp32", f32), ("int8", i8)):
            figures[f"embed_p50_us_{name}"], figures[f"embed_p99_us_{name}"] = m["p50"], m["p99"]
            figures[f"embed_cpu_p50_us_{name}"] = m["cpu_p50"]
            figures[f"embed_cpu_p99_us_{name}"] = m["cpu_p99"]
        figures["int8_speedup_p50"] = round(f32["p50"] / i8["p50"], 2)
        figures["int8_speedup_cpu_p50"] = round(f32["cpu_p50"] / i8["cpu_p50"], 2)

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
        times = []
        for _ in range(3):
            for r in requests:
                start = time.perf_counter()
                engine.compose(r, now=NOW)
                times.append(time.perf_counter() - start)
        figures["compose_p50_us"], figures["compose_p99_us"] = _pct(times[len(requests) :])
        engine.close()
    figures["sqlite_vec"] = _sqlite_vec_status()
    figures["seconds"] = round(time.perf_counter() - started, 1)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    return {"bench": "content", "figures": figures}


def _sqlite_vec_status() -> str:
    if not hasattr(sqlite3.connect(":memory:"), "enable_load_extension"):
        return "unavailable: this Python's sqlite3 cannot load extensions; numpy vector search"
    return "loadable (not used: numpy search was faster here, see docs/content.md)"


if __name__ == "__main__":
    print(json.dumps(main()))
