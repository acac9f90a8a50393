"""A federated model as a signed bundle: the logistic ONNX graph, a model card with how it
was trained (DP-FedAvg settings, rounds, epsilon at delta), and the fleet's signature.

The bundle then goes through the hub's registry and rollouts like any other.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.bundle import build_bundle
from edgemark.federated._model import export_logistic_onnx


def bundle_federated_model(
    params: npt.ArrayLike,
    bundle_dir: str | os.PathLike[str],
    *,
    feature_names: Sequence[str],
    feature_spec_hash: str,
    version: str,
    offers: list[dict[str, Any]],
    policy: dict[str, Any],
    training: Mapping[str, Any],
    signing_key: Any,
    key_id: str,
    name: str = "propensity-federated",
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Build the signed bundle of federated ``params``; ``training`` goes into ``card.json``
    (e.g. rounds, epsilon, delta, noise multiplier, clipping norm)."""
    vector = np.asarray(params, dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix="edgemark-flbundle-") as tmp:
        model = export_logistic_onnx(vector, feature_names, Path(tmp) / "model.onnx")
        card = Path(tmp) / "card.json"
        body = {"kind": "propensity", "trained_by": "DP-FedAvg (edgemark.federated)",
                "training": dict(training), "features": list(feature_names)}  # fmt: skip
        card.write_text(json.dumps(body, sort_keys=True, indent=2) + "\n")
        return build_bundle(
            bundle_dir,
            name=name,
            version=version,
            files={"model.onnx": model, "card.json": card},
            feature_spec_hash=feature_spec_hash,
            offers=offers,
            policy=policy,
            metrics=dict(metrics or {}),
            signing_key=signing_key,
            key_id=key_id,
            extra={"model_card": "card.json"},
        )
