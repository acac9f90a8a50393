"""Fixtures of the hub tests: settings over SQLite and PostgreSQL, a live hub, bundles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from edgemark.bundle import build_bundle, generate_keypair, load_signing_key, pack_bundle
from edgemark.hub import HubSettings, Secret, ServerThread

from ._databases import BACKENDS, database
from ._support import ADMIN_TOKEN


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty hub database: SQLite, and PostgreSQL when a server is configured."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> HubSettings:
    return HubSettings(
        admin_token=Secret(ADMIN_TOKEN),
        database_url=database_url,
        bundle_dir=tmp_path / "bundles",
        max_json_bytes=64 * 1024,
        max_bundle_bytes=1024 * 1024,
        rate_limit_per_s=1000.0,
        rate_limit_burst=1000,
        controller_interval_s=0.05,
    )


@pytest.fixture
def hub(settings: HubSettings) -> Iterator[ServerThread]:
    """A real hub (uvicorn in a thread) on 127.0.0.1 and a free port."""
    with ServerThread(settings) as server:
        yield server


@pytest.fixture
def client(hub: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hub.url, timeout=10) as c:
        yield c


@pytest.fixture
def make_bundle(tmp_path: Path) -> Callable[..., bytes]:
    """Build, sign and pack a small bundle; ``payload`` changes its bytes."""
    keys = tmp_path / "keys"
    key_path, _ = generate_keypair(keys, "k1")
    signing_key = load_signing_key(key_path)
    counter = iter(range(10_000))

    def make(version: str, payload: bytes = b"model-bytes") -> bytes:
        n = next(counter)
        src = tmp_path / f"src-{n}" / "model.onnx"
        src.parent.mkdir(parents=True)
        src.write_bytes(payload)
        out = build_bundle(
            tmp_path / f"bundle-{n}", name="propensity", version=version,
            files={"model.onnx": src}, feature_spec_hash="0" * 64,
            offers=[{"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 1.0}],
            policy={"experiment": "exp1", "salt": "s", "holdout_share": 0.1},
            metrics={"auc_test": 0.7}, signing_key=signing_key, key_id="k1",
        )  # fmt: skip
        return pack_bundle(out)

    return make
