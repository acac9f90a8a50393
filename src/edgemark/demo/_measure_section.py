"""The demo report's measurement section: uplift per offer in conversion and in revenue from
the hub's DP report rows (95% intervals that include the noise) against the simulator's
truth, and off-policy values of simple policies from the edge's logged decisions.

Rendering only: ``measurement_results`` computes, ``measurement_section`` draws (Plotly,
its JavaScript embedded or left to the page, never fetched from a CDN).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgemark._extras import require
from edgemark.errors import MeasureError
from edgemark.measure import (
    decision_logs,
    off_policy_value,
    revenue_uplift_from_reports,
    uplift_from_reports,
)

_HOLDOUT = "holdout"


def measurement_results(
    reports: Sequence[Mapping[str, Any]],
    truth: Mapping[str, Any],
    *,
    revenue_truth: Mapping[str, Any] | None = None,
    decisions: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the section shows, JSON-safe: per offer the measured uplift (conversion and
    revenue) with interval and truth, and the off-policy values of "always offer X".

    ``reports`` are the hub's rows (``GET /v1/reports``: ``node_id`` post-stratifies);
    ``truth`` is ``RetailWorld.truth()``, ``revenue_truth`` ``RetailWorld.revenue_truth(cap)``
    with the nodes' ``revenue_cap``. ``decisions`` are logged decisions (``offer``,
    ``probability`` and the outcome ``bought`` 0/1); without outcomes OPE is left out.
    A part that cannot be measured carries ``error`` with the reason instead.
    """
    out: dict[str, Any] = {
        "conversion": _conversion(reports, truth),
        "revenue": _revenue(reports, revenue_truth),
    }
    out["ope"] = _ope(decisions or [], truth)
    return out


def _conversion(reports: Sequence[Mapping[str, Any]], truth: Mapping[str, Any]) -> dict[str, Any]:
    try:
        estimates = uplift_from_reports(list(reports), strata_key="node_id")
    except MeasureError as exc:
        return {"error": str(exc)}
    offers = truth.get("offers", {})
    return {
        "offers": {
            e.arm: _row(e.uplift, e.ci_low, e.ci_high, e.std_error, e.exposures, offers, e.arm)
            for e in estimates
        },
        "control_exposures": estimates[0].control_exposures if estimates else 0,
    }


def _revenue(
    reports: Sequence[Mapping[str, Any]], revenue_truth: Mapping[str, Any] | None
) -> dict[str, Any]:
    try:
        estimates = revenue_uplift_from_reports(list(reports), strata_key="node_id")
    except MeasureError as exc:
        return {"error": str(exc)}
    offers = (revenue_truth or {}).get("offers", {})
    rows = {}
    for e in estimates:
        row = _row(e.uplift, e.ci_low, e.ci_high, e.std_error, e.exposures, offers, e.arm)
        rows[e.arm] = {**row, "mean": e.mean, "noise_share": e.noise_share}
    return {"offers": rows, "control_mean": estimates[0].control_mean if estimates else 0.0}


def _row(
    uplift: float,
    low: float,
    high: float,
    se: float,
    exposures: int,
    truth: Mapping[str, Any],
    arm: str,
) -> dict[str, Any]:
    true = truth.get(arm, {}).get("uplift")
    return {
        "uplift": uplift,
        "ci_low": low,
        "ci_high": high,
        "std_error": se,
        "exposures": exposures,
        "true_uplift": true,
        "covered": None if true is None else bool(low <= true <= high),
    }


def _ope(decisions: Sequence[Mapping[str, Any]], truth: Mapping[str, Any]) -> dict[str, Any]:
    logged = [d for d in decisions if d.get("bought") is not None]
    if not logged:
        return {"error": "the logged decisions carry no outcome ('bought'), so no OPE"}
    true_rates = {_HOLDOUT: truth.get("control_rate")}
    true_rates.update({k: v.get("rate") for k, v in truth.get("offers", {}).items()})
    policies: dict[str, Any] = {}
    try:
        logs = decision_logs(logged, no_offer=_HOLDOUT)  # the randomised layers only
        names = sorted(set(logs.actions))
        for name in names:
            target = np.zeros((logs.kept, len(names)))
            target[:, names.index(name)] = 1.0  # always ``name``
            res = off_policy_value(
                logs.actions, logs.rewards, logs.propensities, target, target_actions=names
            )
            policies[name] = {
                "estimates": {e.estimator: _value(e) for e in res.estimates},
                "true_value": true_rates.get(name),
                "effective_sample_size": res.effective_sample_size,
            }
    except MeasureError as exc:
        return {"error": str(exc)}
    logged_value = sum(float(d["bought"]) for d in logged) / len(logged)
    return {
        "policies": policies,
        "logged_value": logged_value,
        "n": logs.kept,
        "total": len(logged),
    }


def _value(e: Any) -> dict[str, float]:
    return {"value": e.value, "ci_low": e.ci_low, "ci_high": e.ci_high}


def measurement_section(
    reports: Sequence[Mapping[str, Any]],
    truth: Mapping[str, Any],
    *,
    revenue_truth: Mapping[str, Any] | None = None,
    decisions: Sequence[Mapping[str, Any]] | None = None,
    include_plotlyjs: bool = False,
) -> str:
    """An HTML ``<section>`` with the plots and a table of ``measurement_results``.

    ``include_plotlyjs`` embeds Plotly's JavaScript (about 4 MB) in the first figure; leave
    it False when the page already carries it, as the demo report's first figure does.
    """
    results = measurement_results(reports, truth, revenue_truth=revenue_truth, decisions=decisions)
    parts = ['<section id="measurement"><h2>Measurement</h2>']
    figures = [
        (
            "Uplift in purchase rate per offer (DP reports, post-stratified by node)",
            results["conversion"],
            "uplift in purchase rate",
        ),
        (
            "Uplift in revenue per exposure per offer (DP reports; clipped revenue)",
            results["revenue"],
            "uplift in revenue per exposure",
        ),
    ]
    embed = include_plotlyjs
    for title, part, axis in figures:
        parts.append(f"<h3>{html.escape(title)}</h3>")
        if "error" in part:
            parts.append(f"<p>Not measured: {html.escape(part['error'])}</p>")
            continue
        parts.append(_html(_uplift_figure(part["offers"], axis), embed))
        parts.append(_uplift_table(part["offers"]))
        embed = False
    parts.append("<h3>Off-policy value of always showing one offer (logged decisions)</h3>")
    if "error" in results["ope"]:
        parts.append(f"<p>Not measured: {html.escape(results['ope']['error'])}</p>")
    else:
        parts.append(_html(_ope_figure(results["ope"]), embed))
        parts.append(_OPE_NOTE)
    parts.append(_NOTE)
    parts.append("</section>")
    return "\n".join(parts)


_NOTE = (
    "<p>Intervals are 95% and include both the sampling variance and the Laplace noise "
    "the nodes add (OpenDP) before a row leaves the node; <em>noise share</em> is the part "
    "of the revenue interval's variance that the noise contributes. Revenue is clipped per "
    "purchase at the nodes' revenue cap, and the truth is clipped the same way.</p>"
)
_OPE_NOTE = (
    "<p>IPS, self-normalised IPS and doubly robust estimates of the purchase rate each "
    "policy would have had, from the decisions the edge logged in its randomised layers "
    "(holdout and explore) with their propensities, against the simulator's true rate. "
    "The dotted line is the purchase rate of all logged decisions.</p>"
)


def _html(fig: Any, embed: bool) -> str:
    out: str = fig.to_html(full_html=False, include_plotlyjs=embed)
    return out


def _uplift_figure(offers: Mapping[str, Any], axis: str) -> Any:
    go = require("plotly.graph_objects", "report")
    names = list(offers)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=names,
            y=[offers[n]["uplift"] for n in names],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [offers[n]["ci_high"] - offers[n]["uplift"] for n in names],
                "arrayminus": [offers[n]["uplift"] - offers[n]["ci_low"] for n in names],
            },
            mode="markers",
            name="measured (95% interval)",
            marker={"size": 12},
        )
    )
    known = [n for n in names if offers[n]["true_uplift"] is not None]
    fig.add_trace(
        go.Scatter(
            x=known,
            y=[offers[n]["true_uplift"] for n in known],
            mode="markers",
            name="simulator truth",
            marker={"symbol": "x", "size": 14},
        )
    )
    fig.add_hline(y=0.0, line_dash="dot", line_color="grey")
    fig.update_layout(yaxis_title=axis, height=340, margin={"t": 30})
    return fig


def _ope_figure(ope: Mapping[str, Any]) -> Any:
    go = require("plotly.graph_objects", "report")
    policies = ope["policies"]
    names = list(policies)
    fig = go.Figure()
    for estimator in ("ips", "snips", "dr"):
        values = [policies[n]["estimates"][estimator] for n in names]
        fig.add_trace(
            go.Scatter(
                x=names,
                y=[v["value"] for v in values],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [v["ci_high"] - v["value"] for v in values],
                    "arrayminus": [v["value"] - v["ci_low"] for v in values],
                },
                mode="markers",
                name=estimator.upper() if estimator != "snips" else "SNIPS",
            )
        )
    known = [n for n in names if policies[n]["true_value"] is not None]
    fig.add_trace(
        go.Scatter(
            x=known,
            y=[policies[n]["true_value"] for n in known],
            mode="markers",
            name="simulator truth",
            marker={"symbol": "x", "size": 14},
        )
    )
    fig.add_hline(
        y=ope["logged_value"], line_dash="dot", annotation_text="logged policy (observed)"
    )
    fig.update_layout(
        yaxis_title="purchase rate",
        xaxis_title="always show",
        height=340,
        margin={"t": 30},
        scattermode="group",
    )
    return fig


def _uplift_table(offers: Mapping[str, Any]) -> str:
    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:+.4g}"

    noise = all("noise_share" in r for r in offers.values())
    rows = "".join(
        f"<tr><td>{html.escape(arm)}</td><td>{fmt(r['uplift'])}</td>"
        f"<td>[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]</td><td>{fmt(r['true_uplift'])}</td>"
        f"<td>{'n/a' if r['covered'] is None else ('yes' if r['covered'] else 'no')}</td>"
        f"<td>{r['exposures']}</td>"
        + (f"<td>{r['noise_share']:.0%}</td>" if noise else "")
        + "</tr>"
        for arm, r in offers.items()
    )
    return (
        "<table><tr><th>offer</th><th>uplift</th><th>95% interval</th><th>truth</th>"
        "<th>covered</th><th>exposures</th>"
        + ("<th>noise share</th>" if noise else "")
        + f"</tr>{rows}</table>"
    )
