"""The MiniLM BERT encoder in plain numpy, with sentence-transformers' mean pooling and L2
normalisation; the reference every other encoder is checked against.
"""

from __future__ import annotations

import math

import numpy as np

from edgemark.content._model import F32, HEADS, HIDDEN, I64, LAYERS, LN_EPS, Tokens


def _layer_norm(x: F32, weight: F32, bias: F32) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: F32 = (x - mean) / np.sqrt(var + LN_EPS) * weight + bias
    return out


def erf(x: F32) -> F32:
    """Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7, below float32 noise): numpy has no erf."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    out: F32 = (np.sign(x) * (1.0 - poly * np.exp(-x * x))).astype(np.float32)
    return out


def _gelu(x: F32) -> F32:
    # The exact (erf) GELU that BERT uses, not the tanh approximation.
    out: F32 = 0.5 * x * (1.0 + erf(x * np.float32(1.0 / math.sqrt(2.0))))
    return out


def _dense(x: F32, w: dict[str, F32], name: str) -> F32:
    out: F32 = x @ w[f"{name}.weight"].T + w[f"{name}.bias"]
    return out


class NumpyEncoder:
    """Sentence embeddings ``(batch, 384)`` float32 from token batches, in numpy.

    ``weights`` are those of ``load_weights()``.
    """

    kind = "numpy"

    def __init__(self, weights: dict[str, F32]) -> None:
        self.weights = weights

    def __call__(self, tokens: Tokens) -> F32:
        """Mean-pooled, L2-normalised embeddings of a padded token batch."""
        w, ids, mask = self.weights, tokens.ids, tokens.mask
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][: ids.shape[1]]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        bias = ((1.0 - mask[:, None, None, :]) * np.float32(-1e9)).astype(np.float32)
        for layer in range(LAYERS):
            x = self._layer(x, bias, f"encoder.layer.{layer}")
        return pool(x, mask)

    def _layer(self, x: F32, bias: F32, p: str) -> F32:
        w = self.weights
        attn = self._attention(x, bias, f"{p}.attention.self")
        x = _layer_norm(
            _dense(attn, w, f"{p}.attention.output.dense") + x,
            w[f"{p}.attention.output.LayerNorm.weight"],
            w[f"{p}.attention.output.LayerNorm.bias"],
        )
        hidden = _gelu(_dense(x, w, f"{p}.intermediate.dense"))
        return _layer_norm(
            _dense(hidden, w, f"{p}.output.dense") + x,
            w[f"{p}.output.LayerNorm.weight"],
            w[f"{p}.output.LayerNorm.bias"],
        )

    def _attention(self, x: F32, bias: F32, p: str) -> F32:
        b, s, _ = x.shape
        d = HIDDEN // HEADS

        def heads(name: str) -> F32:
            out: F32 = _dense(x, self.weights, f"{p}.{name}").reshape(b, s, HEADS, d)
            return out.transpose(0, 2, 1, 3)

        scores = heads("query") @ heads("key").transpose(0, 1, 3, 2) / np.float32(math.sqrt(d))
        scores = scores + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        out: F32 = (probs @ heads("value")).transpose(0, 2, 1, 3).reshape(b, s, HIDDEN)
        return out


def pool(hidden: F32, mask: I64) -> F32:
    """Mean over real tokens, then L2 normalisation (sentence-transformers' pooling)."""
    m = mask[:, :, None].astype(np.float32)
    mean = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    norm = np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    out: F32 = (mean / norm).astype(np.float32)
    return out
