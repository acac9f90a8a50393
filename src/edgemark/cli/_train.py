"""CLI verbs for training: ``edgemark train propensity``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import console, handled_errors, print_json

_NOT_FEATURES = ("user", "label_time", "label")


def _read_frame(path: Path) -> Any:
    from edgemark._extras import require
    from edgemark.errors import ModelError

    pd = require("pandas", "train")
    require("pyarrow", "train")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read the training frame {path}: {exc}") from None


def register(app: typer.Typer) -> None:
    """Add the ``train`` commands to ``app``."""
    train = typer.Typer(help="Train models from point-in-time training frames.")

    @train.command("propensity")
    def propensity(
        frame: Annotated[
            Path,
            typer.Option(
                "--frame", help="Training frame (.parquet): user, label_time, features..., label."
            ),
        ],
        out: Annotated[
            Path, typer.Option("--out", help="Output directory for model.onnx and metrics.json.")
        ],
        seed: Annotated[int, typer.Option("--seed", help="LightGBM random seed.")] = 0,
        split_time: Annotated[
            float | None,
            typer.Option(
                "--split-time",
                help="Epoch seconds: train on label_time before, test on the rest "
                "(default: the 75% quantile of label_time).",
            ),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    ) -> None:
        """Train a purchase-propensity model (LightGBM), export ONNX, and report test AUC."""
        from edgemark.models import export_onnx, train_propensity

        with handled_errors():
            data = _read_frame(frame)
            names = [str(c) for c in data.columns if c not in _NOT_FEATURES]
            model = train_propensity(data, names, split_time=split_time, seed=seed)
            out.mkdir(parents=True, exist_ok=True)
            model_path = export_onnx(model, out / "model.onnx")
            metrics = model.metrics_
            (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
            (out / "features.json").write_text(
                json.dumps({"feature_names": names}, indent=2) + "\n"
            )
            if as_json:
                print_json({"metrics": metrics, "feature_names": names, "model": str(model_path)})
                return
            console.print(
                f"AUC (test) {metrics['auc_test']:.4f}  (train {metrics['auc_train']:.4f}; "
                f"{metrics['n_train']} train / {metrics['n_test']} test rows)"
            )
            console.print(
                f"Wrote {model_path} ({model_path.stat().st_size} bytes) and metrics.json"
            )

    app.add_typer(train, name="train")
