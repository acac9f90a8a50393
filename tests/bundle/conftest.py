from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgemark.bundle import TrustStore, build_bundle


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def trust(signing_key: Ed25519PrivateKey) -> TrustStore:
    return TrustStore({"k1": signing_key.public_key()})


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "model.onnx").write_bytes(bytes(range(256)) * 40)
    (src / "hist.json").write_text('{"bins": [0, 1, 2]}')
    return {"model.onnx": src / "model.onnx", "ref/hist.json": src / "hist.json"}


KwargsFactory = Callable[[Ed25519PrivateKey, dict[str, Path]], dict[str, Any]]


def _bundle_kwargs(signing_key: Ed25519PrivateKey, files: dict[str, Path]) -> dict[str, Any]:
    return {
        "name": "propensity",
        "version": "2026.01.1",
        "files": files,
        "feature_spec_hash": "a" * 64,
        "offers": [{"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 1.5}],
        "policy": {"experiment": "exp-1", "salt": "s", "holdout_share": 0.1},
        "metrics": {"auc_test": 0.71},
        "signing_key": signing_key,
        "key_id": "k1",
    }


@pytest.fixture
def bundle_kwargs() -> KwargsFactory:
    return _bundle_kwargs


@pytest.fixture
def bundle_dir(tmp_path: Path, signing_key: Ed25519PrivateKey, sources: dict[str, Path]) -> Path:
    return build_bundle(tmp_path / "bundle", **_bundle_kwargs(signing_key, sources))
