"""Honest, comparable evaluation: one report over a time split, models next to baselines.

The quality gate lives here: a model that does not beat its best baseline is not bundled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import ModelError
from edgemark.models._metrics import auc_difference, binary_report, calibration_bins

FloatArray = npt.NDArray[np.float64]


def evaluate_binary(
    y_test: npt.ArrayLike,
    models: Mapping[str, npt.ArrayLike],
    baselines: Mapping[str, npt.ArrayLike],
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics with 95% intervals for every model and baseline on the same test rows.

    Returns ``{"models": {name: report}, "baselines": {name: report},
    "vs_best_baseline": {model: {"baseline", "auc_delta", "low", "high"}},
    "calibration": {model: bins}}``; the AUC difference uses paired DeLong.
    """
    if not models or not baselines:
        raise ModelError("An evaluation needs at least one model and one baseline.")
    y = np.asarray(y_test, dtype=np.float64)
    report: dict[str, Any] = {
        "models": {n: binary_report(y, p, n_boot=n_boot, seed=seed) for n, p in models.items()},
        "baselines": {
            n: binary_report(y, p, n_boot=n_boot, seed=seed) for n, p in baselines.items()
        },
    }
    best = max(report["baselines"], key=lambda n: report["baselines"][n]["auc"]["value"])
    report["best_baseline"] = best
    report["vs_best_baseline"] = {}
    for name, p in models.items():
        delta, lo, hi = auc_difference(y, p, baselines[best])
        report["vs_best_baseline"][name] = {
            "baseline": best,
            "auc_delta": delta,
            "low": lo,
            "high": hi,
        }
    report["calibration"] = {n: calibration_bins(y, p) for n, p in models.items()}
    return report


def quality_gate(report: Mapping[str, Any], model: str, min_auc_lift: float = 0.0) -> list[str]:
    """Reasons why ``model`` fails its quality gate (empty list: it passes).

    It must beat every baseline's test AUC by more than ``min_auc_lift``.
    """
    if model not in report["models"]:
        raise ModelError(f"The report has no model {model!r}; it has {sorted(report['models'])}.")
    auc = report["models"][model]["auc"]["value"]
    reasons = []
    for name, base in sorted(report["baselines"].items()):
        if not auc > base["auc"]["value"] + min_auc_lift:
            reasons.append(
                f"{model} AUC {auc:.4f} does not beat baseline {name} AUC "
                f"{base['auc']['value']:.4f} by more than {min_auc_lift}"
            )
    return reasons


def write_calibration_plot(bins: Mapping[str, list[dict[str, Any]]], out_dir: Path) -> Path:
    """Write the calibration plot: ``calibration.html`` (plotly) or ``calibration.json``.

    Plotly is the ``report`` extra; without it the bins are written as JSON, which is what
    the model card carries anyway. Returns the path written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        import plotly.graph_objects as go
    except ImportError:
        path = out_dir / "calibration.json"
        path.write_text(json.dumps(bins, indent=2, sort_keys=True) + "\n")
        return path
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"})
    )
    for name, rows in bins.items():
        fig.add_trace(
            go.Scatter(
                x=[b["mean_predicted"] for b in rows],
                y=[b["observed_rate"] for b in rows],
                mode="lines+markers",
                name=name,
                text=[f"n={b['n']}" for b in rows],
            )
        )
    fig.update_layout(
        title="Calibration on the test period",
        xaxis_title="mean predicted probability",
        yaxis_title="observed rate",
    )
    path = out_dir / "calibration.html"
    fig.write_html(os.fspath(path), include_plotlyjs=True, full_html=True)
    return path
