"""Shared fixtures: a tiny LightGBM model exported to ONNX, trusted keys, signed bundles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.bundle import TrustStore, build_bundle, generate_keypair, load_signing_key
from edgemark.features import DEFAULT_SPEC
from tests.edge.edge_support import OFFERS, POLICY, T0, BundleFactory


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread() -> Iterator[None]:
    """As a node process runs (the edge CLI sets OPENBLAS_NUM_THREADS=1): a BLAS thread pool
    makes the policy's small solves many times slower on a busy 2-core machine."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the tests still run, only slower on a busy machine
        yield
        return
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-tree LightGBM propensity model over DEFAULT_SPEC, exported to ONNX."""
    models = pytest.importorskip("edgemark.models", reason="edgemark.models has not landed")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    n = 2000
    names = list(DEFAULT_SPEC.names)
    x = rng.gamma(1.0, 2.0, size=(n, len(names)))
    logit = -2.0 + 0.6 * x[:, 1] - 0.05 * x[:, 0]
    frame = pd.DataFrame(x, columns=names)
    frame.insert(0, "user", [f"u{i}" for i in range(n)])
    frame.insert(1, "label_time", T0 + np.arange(n) * 60.0)
    frame["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = models.train_propensity(frame, names, seed=0, params={"num_iterations": 20})
    path: Path = models.export_onnx(model, tmp_path_factory.mktemp("model") / "model.onnx")
    return path


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key directory with a trusted key 'k1' and an untrusted key 'evil'."""
    root = tmp_path_factory.mktemp("keys")
    generate_keypair(root / "trusted", "k1")
    generate_keypair(root / "other", "evil")
    return root


@pytest.fixture()
def trust(keys: Path) -> TrustStore:
    """The node's trust store (only 'k1')."""
    return TrustStore.from_directory(keys / "trusted")


@pytest.fixture()
def make_bundle(tmp_path: Path, model_path: Path, keys: Path) -> BundleFactory:
    """Build a signed bundle directory; ``key="evil"`` signs with the untrusted key."""

    made = iter(range(1_000_000))

    def make(version: str = "v1", key: str = "k1", **policy: Any) -> Path:
        folder = "trusted" if key == "k1" else "other"
        return build_bundle(
            tmp_path / "bundles" / f"{version}-{key}-{next(made)}",
            name="propensity",
            version=version,
            files={"model.onnx": model_path},
            feature_spec_hash=DEFAULT_SPEC.spec_hash(),
            offers=OFFERS,
            policy={**POLICY, **policy},
            metrics={"auc_test": 0.7},
            signing_key=load_signing_key(keys / folder / f"{key}.key"),
            key_id=key,
        )

    return make
