"""CLI verbs of the measurement plane: ``edgemark measure uplift | uplift-reports | ope |
attribution | mmm | budget``; each parses, makes one library call and prints a table or JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgemark.cli._output import console, err_console, handled_errors, print_json
from edgemark.errors import MeasureError

measure_app = typer.Typer(
    help="Measure what the decisions changed: uplift, off-policy value, attribution, MMM.",
    no_args_is_help=True,
)


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "n/a" if value is None or value != value else format(value, spec)


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@measure_app.command("uplift")
def uplift_command(
    data: Annotated[Path, typer.Option("--data", help="CSV file, one row per unit.")],
    treatment: Annotated[
        str, typer.Option("--treatment", help="Column naming each row's arm (2 or more arms).")
    ],
    outcome: Annotated[
        str, typer.Option("--outcome", help="Numeric outcome column (conversion 0/1, revenue).")
    ],
    control: Annotated[
        str | None,
        typer.Option("--control", help="Value of the control arm (default: control/holdout/0)."),
    ] = None,
    covariate: Annotated[
        str | None,
        typer.Option("--covariate", help="Pre-period column for CUPED variance reduction."),
    ] = None,
    level: Annotated[
        float, typer.Option("--level", help="Confidence level of the intervals.")
    ] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Effect of each arm against the control: absolute, relative, interval, p-value."""
    with handled_errors():
        from edgemark.measure import ab_test_csv

        result = ab_test_csv(
            data, treatment, outcome, control=control, covariate=covariate, level=level
        )
    if as_json:
        print_json(result.to_dict())
        return
    ci = f"{level:.0%} CI"
    rows = [
        [
            e.arm,
            str(e.n),
            _fmt(e.mean),
            f"{e.effect:+.4g}",
            f"[{e.ci_low:+.4g}, {e.ci_high:+.4g}]",
            f"{_fmt(e.relative * 100, '+.1f')}%",
            f"[{_fmt(e.relative_ci_low * 100, '+.1f')}, {_fmt(e.relative_ci_high * 100, '+.1f')}]%",
            f"{e.p_value:.2g}",
        ]
        for e in result.effects
    ]
    first = result.effects[0]
    rows.insert(0, [result.control, str(first.control_n), _fmt(first.control_mean), *[""] * 5])
    cuped = "" if result.theta is None else f", CUPED on {result.covariate!r}"
    _print_table(
        f"Effect on {outcome!r} against {result.control!r}{cuped}",
        ["arm", "n", "mean", "effect", ci, "relative", f"relative {ci}", "p-value"],
        rows,
    )


@measure_app.command("uplift-model")
def uplift_model_command(
    data: Annotated[Path, typer.Option("--data", help="CSV file, one row per unit.")],
    treatment: Annotated[str, typer.Option("--treatment", help="Column naming each row's arm.")],
    outcome: Annotated[str, typer.Option("--outcome", help="Numeric outcome column.")],
    feature: Annotated[
        list[str], typer.Option("--feature", help="Pre-treatment feature column (repeat).")
    ],
    control: Annotated[str, typer.Option("--control", help="Value of the control arm.")],
    arm: Annotated[
        str | None, typer.Option("--arm", help="Treated arm (needed with several).")
    ] = None,
    method: Annotated[
        list[str] | None,
        typer.Option("--method", help="two_model and/or class_transformation (repeat)."),
    ] = None,
    test_share: Annotated[
        float, typer.Option("--test-share", help="Share of rows held out for the metrics.")
    ] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the split and the models.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Uplift models for targeting, with held-out Qini coefficient, AUUC and uplift@k."""
    with handled_errors():
        from edgemark.measure import uplift_model_csv

        reports = uplift_model_csv(
            data,
            treatment,
            outcome,
            feature,
            control=control,
            arm=arm,
            methods=method or ("two_model", "class_transformation"),
            test_share=test_share,
            seed=seed,
        )
    if as_json:
        print_json([r.to_dict() for r in reports])
        return
    ks = list(reports[0].uplift_at)
    rows = [
        [
            r.method,
            f"{r.qini_coefficient:.4g}",
            f"{r.auuc:.4g}",
            *(_fmt(r.uplift_at[k], "+.4f") for k in ks),
        ]
        for r in reports
    ]
    _print_table(
        f"Uplift models on {reports[0].n_test} held-out rows "
        f"(average effect {reports[0].average_effect:+.4f})",
        ["method", "Qini", "AUUC", *(f"uplift@{k}" for k in ks)],
        rows,
    )


@measure_app.command("ope")
def ope_command(
    logs: Annotated[Path, typer.Option("--logs", help="CSV of logged decisions, one per row.")],
    action: Annotated[str, typer.Option("--action", help="Column with the action taken.")],
    reward: Annotated[str, typer.Option("--reward", help="Column with the observed reward.")],
    propensity: Annotated[
        str, typer.Option("--propensity", help="Column with the logging probability of it.")
    ],
    target: Annotated[
        str,
        typer.Option(
            "--target", help="CSV of target action probabilities (a column per action), or uniform."
        ),
    ],
    reward_model: Annotated[
        str, typer.Option("--reward-model", help="DR reward model: mean or lightgbm.")
    ] = "mean",
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Context column for the lightgbm reward model (repeat)."),
    ] = None,
    level: Annotated[
        float, typer.Option("--level", help="Confidence level of the intervals.")
    ] = 0.95,
    layer: Annotated[
        str | None,
        typer.Option(
            "--layer",
            help="Column with the edge's layer: use the randomised layers (holdout, explore).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Value of a target policy from logged decisions: IPS, SNIPS and doubly robust."""
    with handled_errors():
        from edgemark.measure import ope_csv

        result = ope_csv(
            logs,
            action,
            reward,
            propensity,
            target if target == "uniform" else Path(target),
            features=feature or (),
            reward_model=reward_model,
            level=level,
            layer=layer,
        )
    if as_json:
        print_json(result.to_dict())
        return
    rows = [
        [e.estimator, f"{e.value:.4g}", f"{e.std_error:.3g}", f"[{e.ci_low:.4g}, {e.ci_high:.4g}]"]
        for e in result.estimates
    ]
    rows.append(["logged", f"{result.logged_value:.4g}", "", ""])
    _print_table(
        f"Target policy value over {result.n} decisions (effective sample size "
        f"{result.effective_sample_size:.0f}, reward model {result.reward_model})",
        ["estimator", "value", "std error", f"{level:.0%} CI"],
        rows,
    )


@measure_app.command("attribution")
def attribution_command(
    paths: Annotated[
        Path,
        typer.Option(
            "--paths",
            help="CSV: path ('a > b > c'), total_conversions, total_null "
            "[, total_conversion_value].",
        ),
    ],
    order: Annotated[
        list[int] | None, typer.Option("--order", help="Markov order(s) 1-3 (repeat).")
    ] = None,
    sep: Annotated[str, typer.Option("--sep", help="Separator between channels.")] = ">",
    half_life: Annotated[
        float, typer.Option("--half-life", help="Time-decay half-life, in touches.")
    ] = 2.0,
    permutations: Annotated[
        int, typer.Option("--permutations", help="Orders sampled for Shapley beyond 12 channels.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Conversions per channel: rule-based models, Markov removal effects and Shapley."""
    with handled_errors():
        from edgemark.measure import attribution_csv

        result = attribution_csv(
            paths,
            sep=sep,
            orders=order or (1, 2, 3),
            half_life=half_life,
            permutations=permutations,
        )
    if as_json:
        print_json(result.to_dict())
        return
    models = list(result.conversions)
    rows = [
        [channel, *(f"{result.conversions[m][channel]:.1f}" for m in models)]
        for channel in result.channels
    ]
    _print_table(
        f"Conversions by channel ({result.total_conversions:.0f} of {result.journeys:.0f} "
        f"journeys; Shapley {result.shapley.to_dict()['method']})",
        ["channel", *models],
        rows,
    )
    effects = [
        [c, *(f"{m.removal_effects[c]:.3f}" for m in result.markov)] for c in result.channels
    ]
    _print_table(
        "Markov removal effects", ["channel", *(f"order {m.order}" for m in result.markov)], effects
    )


def _names(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@measure_app.command("mmm")
def mmm_command(
    data: Annotated[Path, typer.Option("--data", help="CSV, one row per period (e.g. week).")],
    date: Annotated[str, typer.Option("--date", help="Date column.")],
    target: Annotated[str, typer.Option("--target", help="Outcome column (sales, revenue).")],
    channels: Annotated[str, typer.Option("--channels", help="Spend columns, comma separated.")],
    controls: Annotated[
        str | None, typer.Option("--controls", help="Control columns, comma separated.")
    ] = None,
    draws: Annotated[int, typer.Option("--draws", help="Posterior draws per chain.")] = 500,
    tune: Annotated[int, typer.Option("--tune", help="Tuning steps per chain.")] = 500,
    chains: Annotated[int, typer.Option("--chains", help="Markov chains.")] = 2,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the sampler.")] = 0,
    l_max: Annotated[int, typer.Option("--l-max", help="Adstock carry-over, in periods.")] = 8,
    level: Annotated[float, typer.Option("--level", help="Credible interval level.")] = 0.9,
    save_curves: Annotated[
        Path | None,
        typer.Option("--save-curves", help="Write the response curves here (for budget)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Bayesian marketing-mix model: contribution and ROAS per channel, with diagnostics."""
    with handled_errors():
        from edgemark.measure import mmm_csv

        result = mmm_csv(
            data,
            date,
            target,
            _names(channels),
            _names(controls),
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
            l_max=l_max,
            level=level,
        )
        if save_curves is not None:
            result.curves.save(save_curves)
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if as_json:
        print_json(result.to_dict())
        return
    ci = f"{level:.0%} CI"
    rows = [
        [
            c.channel,
            f"{c.spend:,.0f}",
            f"{c.contribution:,.0f}",
            f"[{c.contribution_low:,.0f}, {c.contribution_high:,.0f}]",
            f"{c.roas:.3g}",
            f"[{c.roas_low:.3g}, {c.roas_high:.3g}]",
        ]
        for c in result.channels
    ]
    _print_table(
        f"MMM: R-hat max {result.rhat_max:.3f}, {result.divergences} divergences, "
        f"fit {result.fit_seconds:.0f} s",
        ["channel", "spend", "contribution", ci, "ROAS", f"ROAS {ci}"],
        rows,
    )


@measure_app.command("budget")
def budget_command(
    curves: Annotated[
        Path, typer.Option("--curves", help="Response curves from 'measure mmm --save-curves'.")
    ],
    total: Annotated[float, typer.Option("--total", help="Budget per period to split.")],
    cap: Annotated[
        list[str] | None,
        typer.Option("--cap", help="Spend cap per period, CHANNEL=AMOUNT (repeat)."),
    ] = None,
    level: Annotated[float, typer.Option("--level", help="Credible interval level.")] = 0.9,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Optimal split of a budget across channels, with the expected outcome and interval."""
    with handled_errors():
        from edgemark.measure import ResponseCurves, optimize_budget

        caps = {}
        for item in cap or []:
            name, sep, amount = item.partition("=")
            try:
                caps[name.strip()] = float(amount)
            except ValueError:
                sep = ""
            if not sep:
                raise MeasureError(f"--cap needs CHANNEL=AMOUNT, got {item!r}")
        plan = optimize_budget(ResponseCurves.load(curves), total, upper=caps, level=level)
    if as_json:
        print_json(plan.to_dict())
        return
    rows = [[c, f"{plan.current_spend[c]:,.2f}", f"{s:,.2f}"] for c, s in plan.spend.items()]
    rows.append(
        [
            "expected outcome",
            f"{plan.current_expected:,.1f} [{plan.current_low:,.1f}, {plan.current_high:,.1f}]",
            f"{plan.expected:,.1f} [{plan.low:,.1f}, {plan.high:,.1f}]",
        ]
    )
    _print_table(
        f"Budget {total:,.2f} per period ({level:.0%} intervals)",
        ["channel", "current mix", "optimal"],
        rows,
    )


def register(app: typer.Typer) -> None:
    """Add the ``measure`` verbs to ``app``."""
    from edgemark.cli import _measure_reports  # noqa: F401  (adds uplift-reports)

    app.add_typer(measure_app, name="measure")
