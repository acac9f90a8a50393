from __future__ import annotations

import edgemark.models


def test_all_is_pinned() -> None:
    assert edgemark.models.__all__ == [
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
    for name in edgemark.models.__all__:
        assert hasattr(edgemark.models, name)
