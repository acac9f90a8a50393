"""Models: trainers, honest evaluation, compression for the edge, model cards, self-tests.

``OnnxScorer``, the metrics and the self-test are core (numpy + onnxruntime); training,
export, distillation and quantization need ``edgemark[train]``.
"""

from __future__ import annotations

from edgemark.models._baselines import LogisticBaseline, RfmRule, rfm_columns
from edgemark.models._card import card_markdown, data_fingerprint, model_card
from edgemark.models._clv import (
    BetaGeo,
    GammaGamma,
    clv_table,
    fit_bgnbd,
    fit_gamma_gamma,
    rfm_summary,
)
from edgemark.models._distill import (
    StudentModel,
    distill_student,
    export_student_onnx,
    quantize_int8,
)
from edgemark.models._evaluate import evaluate_binary, quality_gate, write_calibration_plot
from edgemark.models._factory import FactoryConfig, FactoryResult, bundle_model, train_model
from edgemark.models._metrics import (
    auc_delong,
    auc_difference,
    binary_report,
    brier,
    calibration_bins,
    ece,
    hit_rate_at_k,
    log_loss,
    ndcg_at_k,
)
from edgemark.models._next_category import (
    NextCategoryModel,
    next_category_labels,
    train_next_category,
)
from edgemark.models._onnx import export_onnx, runtime_requirements
from edgemark.models._propensity import (
    DEFAULT_PARAMS,
    PropensityModel,
    train_churn,
    train_propensity,
)
from edgemark.models._scorer import OnnxScorer
from edgemark.models._selftest import make_selftest, run_selftest

__all__ = [
    "DEFAULT_PARAMS",
    "BetaGeo",
    "FactoryConfig",
    "FactoryResult",
    "GammaGamma",
    "LogisticBaseline",
    "NextCategoryModel",
    "OnnxScorer",
    "PropensityModel",
    "RfmRule",
    "StudentModel",
    "auc_delong",
    "auc_difference",
    "binary_report",
    "brier",
    "bundle_model",
    "calibration_bins",
    "card_markdown",
    "clv_table",
    "data_fingerprint",
    "distill_student",
    "ece",
    "evaluate_binary",
    "export_onnx",
    "export_student_onnx",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "hit_rate_at_k",
    "log_loss",
    "make_selftest",
    "model_card",
    "ndcg_at_k",
    "next_category_labels",
    "quality_gate",
    "quantize_int8",
    "rfm_columns",
    "rfm_summary",
    "run_selftest",
    "runtime_requirements",
    "train_churn",
    "train_model",
    "train_next_category",
    "train_propensity",
    "write_calibration_plot",
]
