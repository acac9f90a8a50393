"""CLI verbs for training: ``edgemark train propensity | churn | next-category | clv``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import console, handled_errors, print_json

_NOT_FEATURES = ("user", "label_time", "label")

FrameOpt = Annotated[
    Path,
    typer.Option(
        "--frame", help="Training frame (.parquet): user, label_time, features..., label."
    ),
]
OutOpt = Annotated[
    Path, typer.Option("--out", help="Output directory for the models, report, card and metrics.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (LightGBM, student, bootstrap).")]
SplitOpt = Annotated[
    float | None,
    typer.Option(
        "--split-time",
        help="Epoch seconds: train on label_time before, test on the rest "
        "(default: the 75% quantile of label_time).",
    ),
]
HorizonOpt = Annotated[
    float,
    typer.Option(
        "--horizon-days",
        help="The frame's label horizon in days; training rows end this long before the split.",
    ),
]
QuantizeOpt = Annotated[
    str, typer.Option("--quantize", help="INT8 quantization of the student: dynamic, static, none.")
]
LiftOpt = Annotated[
    float,
    typer.Option("--min-auc-lift", help="AUC the model must beat every baseline by (gate)."),
]
BundleOpt = Annotated[
    Path | None,
    typer.Option("--bundle-out", help="Also build a signed bundle here (only if the gate passes)."),
]
KeyOpt = Annotated[
    Path | None, typer.Option("--key", help="Private key file (<ID>.key) to sign the bundle.")
]
KeyIdOpt = Annotated[
    str | None, typer.Option("--key-id", help="Key id to record (default: the key file's stem).")
]
VersionOpt = Annotated[str, typer.Option("--version", help="Bundle version string.")]
OffersOpt = Annotated[
    Path | None,
    typer.Option("--offers", help="JSON file with the bundle's offers list (default: none)."),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="JSON file with the bundle's policy object (default: {})."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")]


def _read_frame(path: Path) -> Any:
    from edgemark._extras import require
    from edgemark.errors import ModelError

    pd = require("pandas", "train")
    require("pyarrow", "train")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read the training frame {path}: {exc}") from None


def _read_json(path: Path | None, default: Any) -> Any:
    from edgemark.errors import ConfigError

    if path is None:
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Cannot read JSON from {path}: {exc}") from None


def _summary(result: Any, bundle: Path | None) -> dict[str, Any]:
    comp = result.compression
    return {
        "kind": result.config.kind,
        "metrics": result.metrics,
        "feature_names": result.card["features"],
        "model": str(result.out_dir / "model.onnx"),
        "gate": result.gate,
        "compression": {k: comp[k] for k in ("chosen", "reason", "bytes", "auc", "auc_delta")},
        "baselines": {n: r["auc"] for n, r in sorted(result.evaluation["baselines"].items())},
        "bundle": str(bundle) if bundle else None,
    }


def _train_binary(kind: str, frame: Path, out: Path, options: dict[str, Any]) -> None:
    from edgemark.bundle import load_signing_key
    from edgemark.errors import ConfigError
    from edgemark.features import DEFAULT_SPEC
    from edgemark.models import FactoryConfig, bundle_model, train_model

    data = _read_frame(frame)
    names = [str(c) for c in data.columns if c not in _NOT_FEATURES]
    spec_hash = DEFAULT_SPEC.spec_hash() if names == list(DEFAULT_SPEC.names) else ""
    # A frame from 'features frame' records its spec (a zone or offset changes the hash
    # but not the names), so the bundle names the spec it was trained on.
    spec_hash = str(data.attrs.get("feature_spec_hash", spec_hash))
    config = FactoryConfig(
        kind=kind,
        horizon_days=options["horizon_days"],
        split_time=options["split_time"],
        seed=options["seed"],
        quantize=options["quantize"],
        min_auc_lift=options["min_auc_lift"],
    )
    result = train_model(data, names, out, feature_spec_hash=spec_hash, config=config)
    (out / "features.json").write_text(json.dumps({"feature_names": names}, indent=2) + "\n")
    bundle = options["bundle_out"]
    if bundle is not None:
        key = options["key"]
        if key is None:
            raise ConfigError("--bundle-out needs --key (the private key that signs the bundle).")
        bundle = bundle_model(
            result,
            bundle,
            version=options["version"],
            offers=_read_json(options["offers"], []),
            policy=_read_json(options["policy"], {}),
            signing_key=load_signing_key(key),
            key_id=options["key_id"] or key.stem,
            overwrite=True,
        )
    _report(result, bundle, options["as_json"])


def _report(result: Any, bundle: Path | None, as_json: bool) -> None:
    summary = _summary(result, bundle)
    if as_json:
        print_json(summary)
        return
    m, comp = result.metrics, result.compression
    console.print(
        f"[bold]{summary['kind']}[/]: bundled {comp['chosen']} AUC {m['auc_test']:.4f} "
        f"[{m['auc_test_low']:.4f}, {m['auc_test_high']:.4f}] (teacher "
        f"{m['teacher_auc_test']:.4f}; {m['n_train']} train / {m['n_test']} test rows)",
        highlight=False,
    )
    for name, auc in summary["baselines"].items():
        console.print(f"  baseline {name}: AUC {auc['value']:.4f}", highlight=False)
    console.print(f"  {comp['reason']}", highlight=False)
    gate = result.gate
    verdict = (
        "[green]passed[/]" if gate["passed"] else "[red]FAILED[/] " + "; ".join(gate["reasons"])
    )
    console.print(f"  quality gate: {verdict}", highlight=False)
    console.print(f"Wrote {result.out_dir} (model.onnx, card.md, report.json, metrics.json)")
    if bundle is not None:
        console.print(f"Built the signed bundle {bundle}")


def register(app: typer.Typer) -> None:
    """Add the ``train`` commands to ``app``."""
    train = typer.Typer(help="Train models from point-in-time training frames.")

    def binary_command(kind: str, doc: str) -> None:
        def command(
            frame: FrameOpt,
            out: OutOpt,
            seed: SeedOpt = 0,
            split_time: SplitOpt = None,
            horizon_days: HorizonOpt = 7.0,
            quantize: QuantizeOpt = "dynamic",
            min_auc_lift: LiftOpt = 0.0,
            bundle_out: BundleOpt = None,
            key: KeyOpt = None,
            key_id: KeyIdOpt = None,
            version: VersionOpt = "1",
            offers: OffersOpt = None,
            policy: PolicyOpt = None,
            as_json: JsonOpt = False,
        ) -> None:
            with handled_errors():
                _train_binary(kind, frame, out, dict(locals()))

        command.__doc__ = doc
        train.command(kind)(command)

    binary_command(
        "propensity",
        "Train a purchase-propensity model: LightGBM teacher, baselines, distilled student, "
        "quality gates, model card; optionally a signed bundle.",
    )
    binary_command(
        "churn",
        "Train a churn model (no purchase within the horizon): same factory as propensity.",
    )
    from edgemark.cli._train_more import register_more

    register_more(train)
    app.add_typer(train, name="train")
