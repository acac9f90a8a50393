"""The local passage index: one SQLite file holding passages, their metadata and TTL, their
embeddings (float16 blobs) and an FTS5 table; hybrid search (vector + BM25, fused by
reciprocal rank) with filters. Written to a temporary file and swapped in with ``os.replace``.

The vector side is numpy over the embeddings loaded at open: this Python's ``sqlite3`` cannot
load extensions, so sqlite-vec is not used (see docs/content.md for the measurements).
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.content._model import DIM, F32
from edgemark.errors import ConfigError

RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al. 2009)
_WORD = re.compile(r"[0-9A-Za-z]+")
# Words too common to rank by; dropping them keeps FTS5 from scoring most of the index.
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from have how i in is it me my of on or our "
    "the this to we what when where which with you your".split()
)
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE passages (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL, kind TEXT NOT NULL,
    text TEXT NOT NULL, category TEXT, in_stock INTEGER, locale TEXT, expires_at REAL,
    facts TEXT NOT NULL, embedding BLOB NOT NULL);
CREATE VIRTUAL TABLE fts USING fts5(text, tokenize = 'unicode61');
CREATE VIRTUAL TABLE fts_terms USING fts5vocab(fts, 'row');
"""


@dataclass(frozen=True)
class Passage:
    """A retrievable piece of knowledge and the facts a composer may state from it.

    ``expires_at`` (epoch seconds) ends its life in the index; ``None`` never expires.
    """

    id: str
    text: str
    kind: str = "doc"
    doc: str = ""
    category: str | None = None
    in_stock: bool | None = None
    locale: str | None = None
    expires_at: float | None = None
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and its rank in each retriever (0: absent)."""

    passage: Passage
    score: float
    vector_rank: int
    text_rank: int


@dataclass(frozen=True)
class Filters:
    """Metadata filters; ``None`` means any. ``now`` decides which entries have expired."""

    category: str | None = None
    in_stock: bool | None = None
    locale: str | None = None
    kinds: tuple[str, ...] | None = None


def write_index(
    path: str | os.PathLike[str],
    passages: Sequence[Passage],
    embeddings: F32,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write a new index file atomically (temporary file in the same directory, then
    ``os.replace``), so a reader sees the old index or the new one, never half of one."""
    out = Path(path)
    if embeddings.shape != (len(passages), DIM):
        raise ConfigError(f"Need {len(passages)} x {DIM} embeddings, got {embeddings.shape}.")
    ids = [p.id for p in passages]
    if len(set(ids)) != len(ids):
        raise ConfigError("Passage ids must be unique; a content pack lists one twice.")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _fill(tmp, passages, np.ascontiguousarray(embeddings, dtype=np.float32), meta or {})
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _fill(path: Path, passages: Sequence[Passage], emb: F32, meta: dict[str, Any]) -> None:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    try:
        con.executescript(_SCHEMA)
        rows = [_row(i + 1, p, emb[i]) for i, p in enumerate(passages)]
        con.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        con.executemany("INSERT INTO fts(rowid, text) VALUES (?, ?)", [(r[0], r[4]) for r in rows])
        info = {**meta, "dim": DIM, "count": len(passages)}
        con.executemany(
            "INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in info.items()]
        )
        con.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        con.commit()
    finally:
        con.close()


def _row(rowid: int, p: Passage, vec: F32) -> tuple[Any, ...]:
    stock = None if p.in_stock is None else int(p.in_stock)
    facts = json.dumps(p.facts, sort_keys=True)
    return (
        rowid,
        p.id,
        p.doc,
        p.kind,
        p.text,
        p.category,
        stock,
        p.locale,
        p.expires_at,
        facts,
        vec.astype(np.float16).tobytes(),  # half the bytes; ranking does not need more
    )


MAX_TERMS = 6
COMMON_SHARE, COMMON_MIN = 0.05, 500


def fts_query(text: str, df: dict[str, int] | None = None, n: int = 0) -> str:
    """An FTS5 MATCH expression that ORs the quoted words of ``text`` (no FTS5 syntax leaks).

    With document frequencies ``df`` over ``n`` passages, words no passage has are dropped,
    and so are words in more than 5% (and 500) of them: BM25 gives them little weight, but
    FTS5 would score every passage that has them (50 ms for a common word in 100k chunks).
    The ``MAX_TERMS`` rarest words remain.
    """
    words = sorted({w.lower() for w in _WORD.findall(text)} - STOPWORDS)
    if df is not None:
        limit = max(COMMON_SHARE * n, COMMON_MIN)
        words = sorted((w for w in words if 0 < df.get(w, 0) <= limit), key=lambda w: (df[w], w))
        words = sorted(words[:MAX_TERMS])
    return " OR ".join(f'"{w}"' for w in words)


class PassageIndex:
    """A read-only index file opened for search; thread-safe.

    The embeddings live in memory (float32 and 384-bit sign codes); a vector query ranks
    every live row by Hamming distance of the codes, rescores the best ``oversample`` exactly
    by cosine, and is fused with FTS5's BM25 ranking.
    """

    def __init__(self, path: str | os.PathLike[str], *, oversample: int = 256) -> None:
        self.path, self.oversample = Path(path), oversample
        if not self.path.is_file():
            raise ConfigError(f"Index file {self.path} does not exist; build a content pack first.")
        uri = f"file:{self.path.resolve().as_posix()}?mode=ro&immutable=1"
        self._con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        try:
            rows = self._con.execute(
                "SELECT rowid, id, doc, kind, text, category, in_stock, locale, expires_at, facts, "
                "embedding FROM passages ORDER BY rowid"
            ).fetchall()
            self.meta = {
                k: json.loads(v) for k, v in self._con.execute("SELECT key, value FROM meta")
            }
            self.df: dict[str, int] = dict(self._con.execute("SELECT term, doc FROM fts_terms"))
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"{self.path} is not a content index ({exc}); rebuild the pack."
            ) from None
        self.passages = [_passage(r) for r in rows]
        self.row_of = {p.id: i for i, p in enumerate(self.passages)}
        n = len(rows)
        blob = b"".join(r[10] for r in rows)
        half = np.frombuffer(blob, dtype=np.float16).reshape(n, DIM)
        self.vectors: F32 = half.astype(np.float32)  # stored as float16, searched as float32
        # Sign codes word-major (6 x n): six passes over contiguous words beat a row-wise sum.
        self.codes = np.ascontiguousarray(np.packbits(self.vectors > 0, axis=1).view(np.uint64).T)
        # Metadata as small integer codes: comparing 100k Python strings costs milliseconds.
        self._category, self._category_codes = _codes([r[5] or "" for r in rows])
        self._locale, self._locale_codes = _codes([r[7] or "" for r in rows])
        self._kind, self._kind_codes = _codes([r[3] for r in rows])
        self._stock = np.array([-1 if r[6] is None else r[6] for r in rows], dtype=np.int8)
        self._expires = np.array([math.inf if r[8] is None else r[8] for r in rows])
        self._first_expiry = float(self._expires.min()) if n else math.inf

    def __len__(self) -> int:
        return len(self.passages)

    def close(self) -> None:
        """Close the database connection."""
        self._con.close()

    def mask(self, filters: Filters, now: float | None = None) -> npt.NDArray[np.bool_]:
        """Which rows are alive at ``now`` (default: the clock) and pass ``filters``."""
        at = time.time() if now is None else now
        if at < self._first_expiry:
            keep = np.ones(len(self.passages), dtype=np.bool_)
        else:
            keep = self._expires > at
        if filters.category is not None:
            keep &= self._category == self._category_codes.get(filters.category, -1)
        if filters.in_stock is not None:
            keep &= self._stock == int(filters.in_stock)
        if filters.locale is not None:
            wanted = [self._locale_codes.get(filters.locale, -1), self._locale_codes.get("", -1)]
            keep &= np.isin(self._locale, wanted)
        if filters.kinds is not None:
            keep &= np.isin(self._kind, [self._kind_codes.get(k, -1) for k in filters.kinds])
        return keep

    def vector_search(self, query: F32, keep: npt.NDArray[np.bool_], k: int) -> list[int]:
        """Row positions of the ``k`` best cosine matches among ``keep``, best first."""
        alive = np.flatnonzero(keep)
        if alive.size == 0:
            return []
        if alive.size > self.oversample:
            qcode = np.packbits(query > 0).view(np.uint64)
            # Distances over every row (no gather copy); filtered rows are pushed past the end.
            dist = np.bitwise_count(self.codes[0] ^ qcode[0]).astype(np.uint16)
            for word in range(1, len(qcode)):
                dist += np.bitwise_count(self.codes[word] ^ qcode[word])
            dist[~keep] = 1 << 15
            alive = np.argpartition(dist, self.oversample - 1)[: self.oversample]
            alive = alive[keep[alive]]
        scores = self.vectors[alive] @ query
        top = np.argsort(-scores, kind="stable")[:k]
        out: list[int] = alive[top].tolist()
        return out

    def text_search(self, text: str, keep: npt.NDArray[np.bool_], k: int) -> list[int]:
        """Row positions of the ``k`` best BM25 matches among ``keep``, best first."""
        expr = fts_query(text, self.df, len(self.passages))
        if not expr:
            return []
        with self._lock:
            rows = self._con.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?",
                (expr, 4 * k + 50),
            ).fetchall()
        out = [r[0] - 1 for r in rows if keep[r[0] - 1]]
        return out[:k]

    def search(
        self,
        query: F32,
        text: str,
        *,
        k: int = 5,
        filters: Filters | None = None,
        now: float | None = None,
        depth: int = 20,
    ) -> list[Hit]:
        """The ``k`` best passages by reciprocal rank fusion of vector and BM25 rankings."""
        keep = self.mask(filters or Filters(), now)
        vec = self.vector_search(query, keep, depth)
        txt = self.text_search(text, keep, depth)
        return fuse(self.passages, vec, txt, k)

    def get(self, ids: Iterable[str]) -> list[Passage]:
        """Passages by id, in the order given; unknown ids are skipped."""
        return [self.passages[self.row_of[i]] for i in ids if i in self.row_of]


def fuse(passages: Sequence[Passage], vec: Sequence[int], txt: Sequence[int], k: int) -> list[Hit]:
    """Reciprocal rank fusion: score = sum over rankings of 1 / (60 + rank)."""
    scores: dict[int, float] = {}
    for ranking in (vec, txt):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + 1.0 / (RRF_K + rank)
    vrank = {row: r for r, row in enumerate(vec, start=1)}
    trank = {row: r for r, row in enumerate(txt, start=1)}
    best = sorted(scores, key=lambda row: (-scores[row], row))[:k]
    return [Hit(passages[row], scores[row], vrank.get(row, 0), trank.get(row, 0)) for row in best]


def _codes(values: list[str]) -> tuple[npt.NDArray[np.int32], dict[str, int]]:
    lookup = {v: i for i, v in enumerate(sorted(set(values)))}
    return np.array([lookup[v] for v in values], dtype=np.int32), lookup


def _passage(r: tuple[Any, ...]) -> Passage:
    return Passage(
        id=r[1],
        doc=r[2],
        kind=r[3],
        text=r[4],
        category=r[5],
        in_stock=None if r[6] is None else bool(r[6]),
        locale=r[7],
        expires_at=r[8],
        facts=json.loads(r[9]),
    )
