"""CLI verbs ``edgemark train next-category`` and ``edgemark train clv``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import console, handled_errors, print_json


def _next_category(log_dir: Path, out: Path, opts: dict[str, Any]) -> dict[str, Any]:
    from edgemark.events import EventLog
    from edgemark.features import DEFAULT_SPEC, build_training_frame, label_schedule
    from edgemark.models import export_onnx, next_category_labels, train_next_category

    log = EventLog(log_dir)
    horizon = opts["horizon_days"]
    times = label_schedule(log, opts["every_days"], horizon)
    frame = build_training_frame(log, DEFAULT_SPEC, times, horizon_days=horizon)
    events = log.to_arrow(["user", "type", "ts", "category"]).to_pandas()
    labels = next_category_labels(events, frame, horizon)
    names = list(DEFAULT_SPEC.names)
    model = train_next_category(
        frame, names, labels, top_k=opts["top_k"], horizon_days=horizon, seed=opts["seed"]
    )
    out.mkdir(parents=True, exist_ok=True)
    model_path = export_onnx(model, out / "model.onnx")
    figures = {**model.metrics_, "categories": list(model.classes_), "model": str(model_path)}
    (out / "metrics.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    return figures


def _clv(transactions: Path, out: Path | None, opts: dict[str, Any]) -> dict[str, Any]:
    from edgemark._extras import require
    from edgemark.errors import ModelError
    from edgemark.models import clv_table, fit_bgnbd, fit_gamma_gamma, rfm_summary

    pd = require("pandas", "train")
    try:
        data = pd.read_csv(transactions)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Cannot read the transactions CSV {transactions}: {exc}") from None
    summary = rfm_summary(
        data, opts["customer"], opts["date"], opts["amount"], observation_end=opts["end"]
    )
    bg = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[summary["frequency"] > 0]
    gg = fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])
    table = clv_table(summary, bg, gg, opts["horizon_days"])
    path = out or transactions.with_name(transactions.stem + "-clv.csv")
    table.to_csv(path)
    return {
        "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b,
                  "log_likelihood": bg.log_likelihood},
        "gamma_gamma": {"p": gg.p, "q": gg.q, "v": gg.v, "log_likelihood": gg.log_likelihood},
        "customers": len(summary),
        "repeat_customers": len(repeat),
        "horizon_days": opts["horizon_days"],
        "expected_purchases_total": float(table["expected_purchases"].sum()),
        "expected_value_total": float(table["expected_value"].sum()),
        "out": str(path),
    }  # fmt: skip


def register_more(train: typer.Typer) -> None:
    """Add the next-category and CLV commands to the ``train`` group."""

    @train.command("next-category")
    def next_category(
        log_dir: Annotated[Path, typer.Option("--log", help="Event log directory (ingested).")],
        out: Annotated[Path, typer.Option("--out", help="Output directory (model, metrics).")],
        horizon_days: Annotated[
            float, typer.Option("--horizon-days", help="Label: first purchase within N days.")
        ] = 7.0,
        every_days: Annotated[
            float, typer.Option("--every-days", help="Days between label times.")
        ] = 7.0,
        top_k: Annotated[
            int, typer.Option("--top-k", help="Classes: the K most bought categories + other.")
        ] = 10,
        seed: Annotated[int, typer.Option("--seed", help="LightGBM random seed.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Train a next-category model (multiclass) and report NDCG@5 and hit rate@5."""
        opts = {"horizon_days": horizon_days, "every_days": every_days, "top_k": top_k}
        with handled_errors():
            figures = _next_category(log_dir, out, {**opts, "seed": seed})
            if as_json:
                print_json(figures)
                return
            console.print(
                f"NDCG@5 {figures['ndcg_at_5']:.4f} (popularity "
                f"{figures['baseline_popularity_ndcg_at_5']:.4f}), hit rate@5 "
                f"{figures['hit_rate_at_5']:.4f}; {figures['classes']} classes",
                highlight=False,
            )

    @train.command("clv")
    def clv(
        transactions: Annotated[
            Path, typer.Option("--transactions", help="Transactions CSV, one row per purchase.")
        ],
        customer: Annotated[str, typer.Option("--customer", help="Customer id column.")],
        date: Annotated[str, typer.Option("--date", help="Date column (dates, or epoch seconds).")],
        amount: Annotated[str, typer.Option("--amount", help="Purchase amount column.")],
        horizon_days: Annotated[
            float, typer.Option("--horizon-days", help="Horizon of the expected values.")
        ] = 90.0,
        end: Annotated[
            str | None,
            typer.Option("--observation-end", help="End of the observation (default: last date)."),
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", help="Per-customer CSV (default: <transactions>-clv.csv)."),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="Print the parameters as JSON.")
        ] = False,
    ) -> None:
        """Fit BG/NBD and Gamma-Gamma by maximum likelihood; write per-customer CLV."""
        opts = {"customer": customer, "date": date, "amount": amount, "end": end}
        with handled_errors():
            figures = _clv(transactions, out, {**opts, "horizon_days": horizon_days})
            if as_json:
                print_json(figures)
                return
            bg, gg = figures["bgnbd"], figures["gamma_gamma"]
            console.print(
                f"BG/NBD r={bg['r']:.4f} alpha={bg['alpha']:.4f} a={bg['a']:.4f} "
                f"b={bg['b']:.4f}; Gamma-Gamma p={gg['p']:.4f} q={gg['q']:.4f} v={gg['v']:.4f}",
                highlight=False,
            )
            console.print(f"Wrote {figures['out']} ({figures['customers']} customers)")
