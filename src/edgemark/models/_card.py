"""Model cards (JSON and markdown) and data fingerprints, travelling inside the bundle.

Nothing here reads the clock: the card of the same training run has the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

CARD_JSON = "card.json"
CARD_MD = "card.md"

INTENDED_USE = {
    "propensity": "Rank customers at a touchpoint by their probability of buying within the "
    "label horizon, to choose whether and which offer to show. Not for pricing, credit or "
    "any decision with legal effect on a person.",
    "churn": "Rank customers by their probability of not buying within the label horizon, "
    "to target retention offers. Not for pricing, credit or decisions with legal effect.",
}
LIMITS = (
    "Trained on one retailer's history; scores drift when assortment, prices or customer "
    "mix change: watch the drift figures and retrain.",
    "Evaluated on one later time period only; intervals describe sampling noise, not "
    "future shifts.",
    "Probabilities are calibrated on the training period; read the calibration bins before "
    "using them as absolute rates.",
    "Users without personalization consent are decided from context alone, not scored.",
)


def data_fingerprint(frame: Any, feature_names: Sequence[str]) -> dict[str, Any]:
    """sha256 over the frame's users, label times, labels and features (column order fixed).

    >>> import pandas as pd
    >>> f = pd.DataFrame({"user": ["a"], "label_time": [0.0], "x": [1.0], "label": [1]})
    >>> data_fingerprint(f, ["x"])["rows"]
    1
    """
    digest = hashlib.sha256()
    digest.update("\n".join(map(str, frame["user"])).encode("utf-8"))
    for column in ("label_time", "label", *feature_names):
        digest.update(column.encode("utf-8") + b"\0")
        digest.update(np.ascontiguousarray(frame[column].to_numpy(np.float64)).tobytes())
    times = frame["label_time"].to_numpy(np.float64)
    return {
        "sha256": digest.hexdigest(),
        "rows": len(frame),
        "users": int(frame["user"].nunique()),
        "label_time_min": _iso(float(times.min())),
        "label_time_max": _iso(float(times.max())),
        "positive_rate": float(frame["label"].mean()),
    }


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def training_window(
    train_times: Any, test_times: Any, split_time: float, horizon_days: float
) -> dict[str, Any]:
    """Label-time ranges of the train and test periods (ISO UTC) and the split."""
    return {
        "train_from": _iso(float(np.min(train_times))),
        "train_to": _iso(float(np.max(train_times))),
        "test_from": _iso(float(np.min(test_times))),
        "test_to": _iso(float(np.max(test_times))),
        "split_time": _iso(split_time),
        "label_horizon_days": horizon_days,
    }


def model_card(
    *,
    kind: str,
    name: str,
    feature_names: Sequence[str],
    feature_spec_hash: str,
    fingerprint: Mapping[str, Any],
    window: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    compression: Mapping[str, Any],
    gate: Mapping[str, Any],
    intended_use: str | None = None,
    limits: Sequence[str] = LIMITS,
) -> dict[str, Any]:
    """The model card as a plain JSON object (see ``card_markdown`` for the readable form)."""
    chosen = compression["chosen"]
    return {
        "card_format": 1,
        "name": name,
        "kind": kind,
        "intended_use": intended_use or INTENDED_USE.get(kind, f"{kind} scoring at the edge."),
        "features": list(feature_names),
        "feature_spec_hash": feature_spec_hash,
        "data_fingerprint": dict(fingerprint),
        "training_window": dict(window),
        "bundled_model": chosen,
        "metrics": {n: _figures(r) for n, r in evaluation["models"].items()},
        "baselines": {n: _figures(r) for n, r in evaluation["baselines"].items()},
        "vs_best_baseline": dict(evaluation["vs_best_baseline"]),
        "calibration_bins": evaluation["calibration"].get(chosen, []),
        "compression": dict(compression),
        "quality_gate": dict(gate),
        "limits": list(limits),
    }


def _figures(report: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items()}


def card_json(card: Mapping[str, Any]) -> bytes:
    """Stable, readable JSON bytes of a card (sorted keys, two-space indent)."""
    return (json.dumps(card, indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


def _interval(m: Mapping[str, Any]) -> str:
    return f"{m['value']:.4f} [{m['low']:.4f}, {m['high']:.4f}]"


def card_markdown(card: Mapping[str, Any]) -> str:
    """The model card as markdown: use, data, window, metrics table, baselines, limits."""
    fp, win, gate = card["data_fingerprint"], card["training_window"], card["quality_gate"]
    lines = [
        f"# Model card: {card['name']} ({card['kind']})",
        "",
        f"**Intended use.** {card['intended_use']}",
        "",
        "## Data",
        f"- fingerprint: sha256 `{fp['sha256']}` ({fp['rows']} rows, {fp['users']} users, "
        f"positive rate {fp['positive_rate']:.4f})",
        f"- feature spec hash: `{card['feature_spec_hash']}`",
        f"- features: {', '.join(card['features'])}",
        f"- training window: {win['train_from']} to {win['train_to']} (label times); "
        f"test: {win['test_from']} to {win['test_to']}; "
        f"label horizon {win['label_horizon_days']} days",
        "",
        "## Test-period metrics (95% intervals: AUC DeLong, others bootstrap)",
        "",
        "| model | AUC | log loss | Brier | ECE |",
        "|---|---|---|---|---|",
    ]
    for group in ("metrics", "baselines"):
        for name, m in sorted(card[group].items()):
            label = name if group == "metrics" else f"baseline: {name}"
            lines.append(
                f"| {label} | {_interval(m['auc'])} | {_interval(m['log_loss'])} | "
                f"{_interval(m['brier'])} | {_interval(m['ece'])} |"
            )
    comp = card["compression"]
    lines += [
        "",
        f"**Bundled model:** `{card['bundled_model']}`. {comp.get('reason', '')}",
        "",
        f"**Quality gate:** {'passed' if gate['passed'] else 'FAILED'}"
        + "".join(f"\n- {r}" for r in gate["reasons"]),
        "",
        "## Limits",
        *[f"- {limit}" for limit in card["limits"]],
        "",
    ]
    return "\n".join(lines)
