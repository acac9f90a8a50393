"""Content packs: read a catalog (JSONL) and a docs directory (FAQ pages, ``tone.md``,
``banned.txt``), chunk them into passages, embed them, and write index, embedder and
``pack.json`` into a directory that travels inside a bundle under ``content/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.content._embedder import ONNX_FILES, TOKENIZER_FILE, Embedder, export_embedder
from edgemark.content._index import Passage, write_index
from edgemark.content._model import MODEL_NAME
from edgemark.errors import ConfigError

PACK_FILE = "pack.json"
INDEX_FILE = "index.sqlite"
PACK_FORMAT = 1
BUNDLE_PREFIX = "content/"
INT8_AGREEMENT = 0.99  # the INT8 embedder ships only if every passage agrees this well
_REQUIRED = ("sku", "name", "category", "price", "currency")


@dataclass(frozen=True)
class PackReport:
    """What ``build_pack`` wrote and measured."""

    out_dir: Path
    passages: int
    products: int
    doc_passages: int
    embedder: str
    int8_cosine_min: float
    int8_cosine_mean: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary."""
        out = dict(self.__dict__)
        out["out_dir"] = str(self.out_dir)
        return out


def read_catalog(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a JSONL catalog; ``ConfigError`` names the line and what is wrong."""
    src = Path(path)
    if not src.is_file():
        raise ConfigError(f"Catalog file {src} does not exist; give --catalog a JSONL file.")
    rows = []
    for number, line in enumerate(src.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{src}:{number} is not JSON ({exc.msg}); one object per line."
            ) from None
        missing = [k for k in _REQUIRED if not isinstance(row, dict) or k not in row]
        if missing:
            raise ConfigError(
                f"{src}:{number} lacks {', '.join(missing)}; every product needs {_REQUIRED}."
            )
        if not isinstance(row["price"], int | float) or row["price"] < 0:
            raise ConfigError(f"{src}:{number}: price must be a number >= 0, got {row['price']!r}.")
        rows.append(row)
    if not rows:
        raise ConfigError(f"Catalog {src} has no products.")
    return rows


def product_passage(row: dict[str, Any], expires_at: float | None) -> Passage:
    """One passage per product: its description, price and stock, with its facts."""
    attrs = {str(k): str(v) for k, v in dict(row.get("attributes") or {}).items()}
    in_stock = bool(row.get("in_stock", True))
    described = row.get("description") or f"{row['name']}. " + "; ".join(
        f"{k}: {v}" for k, v in sorted(attrs.items())
    )
    price = f"{float(row['price']):.2f} {row['currency']}"
    text = f"{described} Price: {price}. {'In stock' if in_stock else 'Out of stock'}."
    facts = {
        "sku": str(row["sku"]),
        "name": str(row["name"]),
        "brand": str(row.get("brand", "")),
        "product_type": str(row.get("product_type", "")),
        "price": f"{float(row['price']):.2f}",
        "currency": str(row["currency"]),
        "attributes": attrs,
    }
    return Passage(
        id=str(row["sku"]),
        text=text,
        kind="product",
        doc="catalog",
        category=str(row["category"]),
        in_stock=in_stock,
        locale=row.get("locale"),
        expires_at=expires_at,
        facts=facts,
    )


def doc_passages(directory: str | os.PathLike[str]) -> tuple[list[Passage], str, list[str]]:
    """FAQ passages (one per paragraph, id ``<file stem>#<n>``), the tone guide, banned claims."""
    root = Path(directory)
    if not root.is_dir():
        raise ConfigError(f"Docs directory {root} does not exist; give --docs a directory.")
    tone = (root / "tone.md").read_text(encoding="utf-8") if (root / "tone.md").is_file() else ""
    banned_file = root / "banned.txt"
    banned = (
        [b.strip().lower() for b in banned_file.read_text(encoding="utf-8").splitlines()]
        if banned_file.is_file()
        else []
    )
    passages = []
    for path in sorted(root.glob("*.md")) + sorted(root.glob("*.txt")):
        if path.name in {"tone.md", "banned.txt"}:
            continue
        title, paragraphs = _paragraphs(path.read_text(encoding="utf-8"))
        for n, para in enumerate(paragraphs):
            text = f"{title}: {para}" if title else para
            passages.append(Passage(id=f"{path.stem}#{n}", text=text, kind="faq", doc=path.stem))
    return passages, tone, [b for b in banned if b and not b.startswith("#")]


def _paragraphs(text: str) -> tuple[str, list[str]]:
    title, out = "", []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        if block.startswith("#"):
            title = title or block.lstrip("#").strip()
        elif block:
            out.append(block)
    return title, out


def build_pack(
    catalog: str | os.PathLike[str],
    docs: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    embedder: str = "auto",
    ttl_days: float | None = 30.0,
    as_of: float | None = None,
    version: str = "1",
) -> PackReport:
    """Chunk, embed and index a catalog and docs into ``out_dir`` (replaced atomically).

    ``embedder`` is ``int8``, ``fp32`` or ``auto`` (INT8 when every passage's INT8
    embedding agrees with float32 to cosine >= 0.99, else float32). Product passages
    expire ``ttl_days`` after ``as_of`` (default: now), since prices and stock change;
    FAQ passages never expire.
    """
    if embedder not in {"auto", "int8", "fp32"}:
        raise ConfigError(f"--embedder must be auto, int8 or fp32, got {embedder!r}.")
    started, built_at = time.perf_counter(), time.time() if as_of is None else as_of
    expires = None if ttl_days is None else built_at + ttl_days * 86400.0
    products = [product_passage(r, expires) for r in read_catalog(catalog)]
    docs_list, tone, banned = doc_passages(docs)
    passages = products + docs_list
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a pack is read by the node service
    try:
        kind, agreement, vectors = _embed(passages, staging, embedder)
        write_index(
            staging / INDEX_FILE, passages, vectors, {"embedder": kind, "built_at": built_at}
        )
        manifest = {
            "format": PACK_FORMAT,
            "version": version,
            "built_at": built_at,
            "model": MODEL_NAME,
            "embedder": {"kind": kind, "file": ONNX_FILES[kind], "tokenizer": TOKENIZER_FILE},
            "index": INDEX_FILE,
            "passages": len(passages),
            "products": len(products),
            "tone": tone,
            "banned": banned,
            "ttl_days": ttl_days,
            "metrics": {"int8_cosine_min": agreement[0], "int8_cosine_mean": agreement[1]},
        }
        (staging / PACK_FILE).write_text(
            json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8"
        )
        _swap_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PackReport(
        out,
        len(passages),
        len(products),
        len(docs_list),
        kind,
        agreement[0],
        agreement[1],
        time.perf_counter() - started,
    )


def _embed(
    passages: Sequence[Passage], staging: Path, choice: str
) -> tuple[str, tuple[float, float], Any]:
    """Embed with both graphs, measure their agreement, keep the chosen one's files."""
    paths = export_embedder(staging, kinds=("fp32", "int8"))
    texts = [p.text for p in passages]
    tok = staging / TOKENIZER_FILE
    fp32 = Embedder.from_files(paths["fp32"], tok, "fp32").embed(texts)
    int8 = Embedder.from_files(paths["int8"], tok, "int8").embed(texts)
    cos = (fp32 * int8).sum(axis=1)
    agreement = (round(float(cos.min()), 6), round(float(cos.mean()), 6))
    kind = choice if choice != "auto" else ("int8" if agreement[0] >= INT8_AGREEMENT else "fp32")
    paths["fp32" if kind == "int8" else "int8"].unlink()
    return kind, agreement, np.asarray(int8 if kind == "int8" else fp32)


def _swap_dir(staging: Path, out: Path) -> None:
    """Replace ``out`` by ``staging``: readers of the old pack keep their open files."""
    if out.exists() and not (out / PACK_FILE).is_file() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not a content pack; choose an empty or new --out.")
    old = out.with_name(f".{out.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(staging, out)
    shutil.rmtree(old, ignore_errors=True)


def bundle_files(pack_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """The ``build_bundle(files=...)`` entries that put a pack into a bundle under ``content/``."""
    root = Path(pack_dir)
    if not (root / PACK_FILE).is_file():
        raise ConfigError(
            f"{root} is not a content pack (no {PACK_FILE}); run edgemark content pack build."
        )
    return {BUNDLE_PREFIX + p.name: p for p in sorted(root.iterdir()) if p.is_file()}
