"""Models: purchase-propensity training (LightGBM), ONNX export, and the ONNX scorer.

``OnnxScorer`` is core (numpy + onnxruntime); training and export need ``edgemark[train]``.
"""

from __future__ import annotations

from edgemark.models._onnx import export_onnx
from edgemark.models._propensity import DEFAULT_PARAMS, PropensityModel, train_propensity
from edgemark.models._scorer import OnnxScorer

__all__ = [
    "DEFAULT_PARAMS",
    "OnnxScorer",
    "PropensityModel",
    "export_onnx",
    "train_propensity",
]
