from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from edgemark.models import PropensityModel, export_onnx, train_propensity

FEATURES = ("recency", "purchases_30d", "spend_30d", "views_7d", "noise")
COEF = np.array([-0.08, 0.6, 0.004, 0.15, 0.0])
INTERCEPT = -1.0


def synthetic_frame(n: int = 8000, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose label follows a known logistic model; returns the frame and true P(y=1)."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.exponential(10.0, n).round(2),
            rng.poisson(1.5, n),
            rng.gamma(2.0, 40.0, n).round(2),
            rng.poisson(3.0, n),
            rng.normal(size=n),
        ]
    ).astype(np.float32)
    p = 1.0 / (1.0 + np.exp(-(INTERCEPT + x.astype(np.float64) @ COEF)))
    frame = pd.DataFrame(x, columns=list(FEATURES))
    frame.insert(0, "user", [f"u_{i:05d}" for i in range(n)])
    frame.insert(1, "label_time", 1_767_571_200.0 + 86400.0 * 7 * rng.integers(0, 8, n))
    frame["label"] = (rng.random(n) < p).astype(np.int64)
    return frame, p


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    frame, p_true = synthetic_frame()
    model: PropensityModel = train_propensity(frame, FEATURES, seed=3)
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx")
    return {"frame": frame, "p_true": p_true, "model": model, "onnx": path}


@pytest.fixture(scope="session")
def features() -> tuple[str, ...]:
    return FEATURES


@pytest.fixture(scope="session")
def make_frame() -> Callable[..., tuple[pd.DataFrame, np.ndarray]]:
    return synthetic_frame


@pytest.fixture(scope="session")
def onnx_path(trained: dict[str, Any]) -> Path:
    path: Path = trained["onnx"]
    return path


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One full factory run (propensity) on 8000 synthetic rows."""
    from edgemark.models import FactoryConfig, train_model

    frame, _ = synthetic_frame(n=8000, seed=1)
    out = tmp_path_factory.mktemp("factory")
    config = FactoryConfig(seed=2, n_bootstrap=100)
    return train_model(frame, FEATURES, out, feature_spec_hash="f" * 64, config=config)
