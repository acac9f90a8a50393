"""The MiniLM encoder as an ONNX graph built from the weights (onnx helper API), its INT8
dynamic quantization (ONNX Runtime), and a one-thread ONNX Runtime runner for it.

Building needs ``onnx`` (pack build time); running needs only ``onnxruntime`` (core).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgemark._extras import require
from edgemark.content._model import F32, HEADS, HIDDEN, LAYERS, LN_EPS, Tokens
from edgemark.errors import ModelError

OPSET = 17  # LayerNormalization is a standard operator from opset 17 on


class _Graph:
    """Accumulates nodes and initializers with unique names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx, self.nodes, self.inits, self._n = onnx, list[Any](), list[Any](), 0

    def const(self, name: str, value: Any) -> str:
        array = np.asarray(value)
        self.inits.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], domain: str = "", **attrs: Any) -> str:
        self._n += 1
        out = f"{op_type.lower()}_{self._n}"
        node = self.onnx.helper.make_node(
            op_type, inputs, [out], name=out, domain=domain or None, **attrs
        )
        self.nodes.append(node)
        return out

    def dense(self, x: str, w: dict[str, F32], name: str) -> str:
        weight = self.const(f"{name}.weight_t", np.ascontiguousarray(w[f"{name}.weight"].T))
        return self.op(
            "Add", [self.op("MatMul", [x, weight]), self.const(f"{name}.bias", w[f"{name}.bias"])]
        )

    def norm(self, x: str, w: dict[str, F32], name: str) -> str:
        scale = self.const(f"{name}.weight", w[f"{name}.weight"])
        bias = self.const(f"{name}.bias", w[f"{name}.bias"])
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=LN_EPS)


def build_onnx(
    weights: dict[str, F32], path: str | os.PathLike[str], *, fused: bool = False
) -> Path:
    """Write the float32 encoder graph (ids, mask → normalised embedding) to ``path``.

    ``fused`` builds each layer from ONNX Runtime's contrib operators (com.microsoft
    ``Attention`` with packed QKV weights, ``BiasGelu``, ``SkipLayerNormalization``): fewer,
    larger kernels, and an ``Attention`` that dynamic quantization turns into ``QAttention``.
    """
    onnx = require("onnx", "content")
    g = _Graph(onnx)
    x = _embeddings(g, weights)
    mask_f = g.op("Cast", ["attention_mask"], to=onnx.TensorProto.FLOAT)
    if fused:
        mask_i = g.op("Cast", ["attention_mask"], to=onnx.TensorProto.INT32)
        for layer in range(LAYERS):
            x = _fused_layer(g, weights, x, mask_i, f"encoder.layer.{layer}")
    else:
        inverted = g.op("Sub", [g.const("one", np.float32(1.0)), mask_f])
        scaled = g.op("Mul", [inverted, g.const("neg_big", np.float32(-1e9))])
        bias = g.op("Unsqueeze", [scaled, g.const("axes_12", np.array([1, 2], dtype=np.int64))])
        for layer in range(LAYERS):
            x = _layer(g, weights, x, bias, f"encoder.layer.{layer}")
    out = _pool(g, x, mask_f)
    g.nodes.append(onnx.helper.make_node("Identity", [out], ["embedding"]))
    ints = onnx.TensorProto.INT64
    graph = onnx.helper.make_graph(
        g.nodes,
        "minilm_l6_v2",
        [
            onnx.helper.make_tensor_value_info("input_ids", ints, ["batch", "tokens"]),
            onnx.helper.make_tensor_value_info("attention_mask", ints, ["batch", "tokens"]),
        ],
        [
            onnx.helper.make_tensor_value_info(
                "embedding", onnx.TensorProto.FLOAT, ["batch", HIDDEN]
            )
        ],
        g.inits,
    )
    opsets = [onnx.helper.make_opsetid("", OPSET)]
    if fused:
        opsets.append(onnx.helper.make_opsetid("com.microsoft", 1))
    model = onnx.helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8  # readable by every onnxruntime edgemark supports (>= 1.18)
    if not fused:  # the checker does not know the contrib operators
        onnx.checker.check_model(model)
    onnx.save(model, os.fspath(path))
    return Path(path)


def _embeddings(g: _Graph, w: dict[str, F32]) -> str:
    words = g.op(
        "Gather", [g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), "input_ids"]
    )
    length = g.op(
        "Slice",
        [
            g.op("Shape", ["input_ids"]),
            g.const("i1", np.array([1], dtype=np.int64)),
            g.const("i2", np.array([2], dtype=np.int64)),
        ],
    )
    length = g.op("Squeeze", [length, g.const("i0", np.array([0], dtype=np.int64))])
    positions = g.op("Range", [g.const("zero", np.int64(0)), length, g.const("step", np.int64(1))])
    pos = g.op(
        "Gather",
        [g.const("position_embeddings", w["embeddings.position_embeddings.weight"]), positions],
    )
    x = g.op(
        "Add",
        [
            g.op("Add", [words, pos]),
            g.const("token_type0", w["embeddings.token_type_embeddings.weight"][0]),
        ],
    )
    return g.norm(x, w, "embeddings.LayerNorm")


def _layer(g: _Graph, w: dict[str, F32], x: str, bias: str, p: str) -> str:
    attn = _attention(g, w, x, bias, f"{p}.attention.self")
    x = g.norm(
        g.op("Add", [g.dense(attn, w, f"{p}.attention.output.dense"), x]),
        w,
        f"{p}.attention.output.LayerNorm",
    )
    hidden = g.dense(x, w, f"{p}.intermediate.dense")
    erf = g.op("Erf", [g.op("Mul", [hidden, g.const(f"{p}.rsqrt2", np.float32(1 / math.sqrt(2)))])])
    gelu = g.op(
        "Mul",
        [g.op("Mul", [hidden, g.op("Add", [erf, "one"])]), g.const(f"{p}.half", np.float32(0.5))],
    )
    return g.norm(
        g.op("Add", [g.dense(gelu, w, f"{p}.output.dense"), x]), w, f"{p}.output.LayerNorm"
    )


def _fused_layer(g: _Graph, w: dict[str, F32], x: str, mask: str, p: str) -> str:
    a = f"{p}.attention.self"
    qkv_w = np.concatenate([w[f"{a}.{n}.weight"].T for n in ("query", "key", "value")], axis=1)
    qkv_b = np.concatenate([w[f"{a}.{n}.bias"] for n in ("query", "key", "value")])
    ctx = g.op(
        "Attention",
        [
            x,
            g.const(f"{a}.qkv_weight", np.ascontiguousarray(qkv_w)),
            g.const(f"{a}.qkv_bias", qkv_b),
            mask,
        ],
        domain="com.microsoft",
        num_heads=HEADS,
    )
    x = _skip_norm(g, w, ctx, x, f"{p}.attention.output")
    up = g.const(
        f"{p}.intermediate.dense.weight_t",
        np.ascontiguousarray(w[f"{p}.intermediate.dense.weight"].T),
    )
    hidden = g.op(
        "BiasGelu",
        [
            g.op("MatMul", [x, up]),
            g.const(f"{p}.intermediate.dense.bias", w[f"{p}.intermediate.dense.bias"]),
        ],
        domain="com.microsoft",
    )
    return _skip_norm(g, w, hidden, x, f"{p}.output")


def _skip_norm(g: _Graph, w: dict[str, F32], h: str, skip: str, p: str) -> str:
    """LayerNorm(h @ W + b + skip), the dense and residual of a BERT sub-layer."""
    weight = g.const(f"{p}.dense.weight_t", np.ascontiguousarray(w[f"{p}.dense.weight"].T))
    return g.op(
        "SkipLayerNormalization",
        [
            g.op("MatMul", [h, weight]),
            skip,
            g.const(f"{p}.LayerNorm.weight", w[f"{p}.LayerNorm.weight"]),
            g.const(f"{p}.LayerNorm.bias", w[f"{p}.LayerNorm.bias"]),
            g.const(f"{p}.dense.bias", w[f"{p}.dense.bias"]),
        ],
        domain="com.microsoft",
        epsilon=LN_EPS,
    )


def _attention(g: _Graph, w: dict[str, F32], x: str, bias: str, p: str) -> str:
    split = g.const(f"{p}.split", np.array([0, 0, HEADS, HIDDEN // HEADS], dtype=np.int64))
    q, k, v = (
        g.op("Reshape", [g.dense(x, w, f"{p}.{n}"), split]) for n in ("query", "key", "value")
    )
    q = g.op("Transpose", [q], perm=[0, 2, 1, 3])
    k = g.op("Transpose", [k], perm=[0, 2, 3, 1])
    v = g.op("Transpose", [v], perm=[0, 2, 1, 3])
    scale = g.const(f"{p}.scale", np.float32(1 / math.sqrt(HIDDEN // HEADS)))
    scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), bias])
    ctx = g.op(
        "Transpose", [g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])], perm=[0, 2, 1, 3]
    )
    merge = g.const(f"{p}.merge", np.array([0, 0, HIDDEN], dtype=np.int64))
    return g.op("Reshape", [ctx, merge])


def _pool(g: _Graph, x: str, mask_f: str) -> str:
    m = g.op("Unsqueeze", [mask_f, g.const("axis2", np.array([2], dtype=np.int64))])
    axis1 = g.const("axis1", np.array([1], dtype=np.int64))
    total = g.op("ReduceSum", [g.op("Mul", [x, m]), axis1], keepdims=0)
    count = g.op(
        "Max", [g.op("ReduceSum", [m, axis1], keepdims=0), g.const("tiny", np.float32(1e-9))]
    )
    mean = g.op("Div", [total, count])
    norm = g.op(
        "ReduceL2", [mean], axes=[-1], keepdims=1
    )  # opset 17: ReduceL2 takes axes as an attribute, ReduceSum as an input
    return g.op("Div", [mean, g.op("Max", [norm, g.const("tiny_norm", np.float32(1e-12))])])


FLOAT_DOWN_LAYERS = (0, 2)
"""Layers whose feed-forward down-projection stays float in the INT8 graph (see below)."""


def quantize_int8(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> Path:
    """Dynamic INT8 quantization (per-channel weights) of the MatMul, Attention and
    embedding Gather weights of ``src`` (best: the ``fused`` graph, whose ``Attention``
    becomes ``QAttention``).

    The down-projections of ``FLOAT_DOWN_LAYERS`` stay float: their GELU inputs have
    outliers that per-tensor activation quantization flattens. Quantizing one layer's
    down-projection alone took the pack's minimum cosine from 0.9948 to 0.9912 (layer 0),
    0.9918 (2), 0.9938 (3), 0.9940 (1), 0.9943 (4, 5); all six: 0.9894.
    """
    onnx = require("onnx", "content")
    quant = require("onnxruntime.quantization", "content")
    keep = {f"encoder.layer.{k}.output.dense.weight_t" for k in FLOAT_DOWN_LAYERS}
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant.quant_pre_process(os.fspath(src), os.fspath(pre), skip_symbolic_shape=True)
        keep_float = [
            node.name
            for node in onnx.load(os.fspath(pre)).graph.node
            if node.op_type == "MatMul" and node.input[1] in keep
        ]
        quant.quantize_dynamic(
            os.fspath(pre),
            os.fspath(dst),
            weight_type=quant.QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention", "Gather"],
            nodes_to_exclude=keep_float,
            # Shape inference cannot type the contrib operators' outputs; they are float.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return Path(dst)


class OnnxEncoder:
    """Runs an encoder graph with one ONNX Runtime thread (the edge's hot-path rule)."""

    def __init__(self, path: str | os.PathLike[str], *, kind: str = "onnx") -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                os.fspath(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(
                f"Cannot load the embedder graph {path}: {exc}. Rebuild the content pack."
            ) from None
        self.kind = kind

    def __call__(self, tokens: Tokens) -> F32:
        """Embeddings ``(batch, 384)`` of a padded token batch."""
        out = self._session.run(
            ["embedding"], {"input_ids": tokens.ids, "attention_mask": tokens.mask}
        )
        return np.asarray(out[0], dtype=np.float32)
