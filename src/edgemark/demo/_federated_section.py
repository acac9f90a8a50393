"""The federated-learning, offer-priors and privacy-ledger sections of the demo's report
and summary."""

from __future__ import annotations

import html
from typing import Any


def federated_summary(federated: dict[str, Any], ledger: dict[str, Any]) -> dict[str, Any]:
    """``summary.json``'s ``federated`` entry (without the raw parameters) and the ledger."""
    out = {k: v for k, v in federated.items() if k != "params"}
    central, fl = out.get("auc_central"), out.get("auc_federated")
    out["auc_ratio"] = fl / central if fl is not None and central else None
    return {"federated": out, "privacy_ledger": ledger}


def federated_html(summary: dict[str, Any]) -> str:
    """The report's section: AUC per round next to the central model, and the ledger."""
    fed, ledger = summary.get("federated") or {}, summary.get("privacy_ledger") or {}
    parts = ["<h2>Federated learning (DP-FedAvg)</h2>"]
    if not fed.get("rounds"):
        parts.append("<p>No federated rounds in this run.</p>")
    else:
        rows = "".join(
            f"<tr><td>{r['round']}</td><td>{r['clients']}</td><td>{r['auc']:.3f}</td>"
            f"<td>{r['epsilon']:.2f}</td></tr>"
            for r in fed["rounds"]
        )
        stopped = fed.get("stopped")
        parts.append(
            f"<p>Each node trains on its own events that carry training consent and sends "
            f"only a clipped (L2 {fed['clip_norm']:g}), noised update; the hub averages them. "
            f"Node-level epsilon at delta {fed['delta']:g} (dp-accounting RDP), budget "
            f"{fed['epsilon_budget']:g}, noise multiplier {fed['noise_multiplier']:.2f}.</p>"
            f"<p>Held-out AUC: federated <b>{fed['auc_federated']:.3f}</b> next to the central "
            f"model (v1, trained on the pooled history) <b>{fed['auc_central']:.3f}</b>.</p>"
            "<table><tr><th>round</th><th>clients</th><th>AUC</th><th>epsilon</th></tr>"
            f"{rows}</table>" + (f"<p>Stopped: {html.escape(stopped)}</p>" if stopped else "")
        )
    parts.append(offer_priors_html(summary.get("offer_priors") or {}))
    if ledger:
        node_rows = "".join(
            f"<tr><td>{html.escape(n['node_id'])}</td><td>{n['epsilon_reports']:.2f}</td>"
            f"<td>{n['epsilon_federated']:.2f}</td><td>{n['epsilon_spent']:.2f}</td></tr>"
            for n in ledger["nodes"]
        )
        parts.append(
            "<h2>Privacy ledger (hub)</h2>"
            f"<p>Fleet-wide epsilon spent: {ledger['fleet']['epsilon_spent']:.2f} "
            f"(delta {ledger['delta']:g}).</p>"
            "<table><tr><th>node</th><th>reports</th><th>federated</th><th>total</th></tr>"
            f"{node_rows}</table>"
        )
    return "\n".join(parts)


def offer_priors_html(priors: dict[str, Any]) -> str:
    """The fleet's per-arm conversion rates (one DP release) next to the exact rates the
    nodes measured, the prior strength the noise allows, and v2's starting point."""
    parts = ["<h2>Federated offer priors (v2's policy)</h2>"]
    if not priors:
        return parts[0] + "<p>No offer-priors round in this run.</p>"
    if priors.get("skipped"):
        return parts[0] + f"<p>Skipped: {html.escape(str(priors['skipped']))}.</p>"
    rows = []
    for arm in priors["arms"]:
        bias = priors["bias"].get(arm)
        start = (
            "baseline" if bias is None else f"{bias['mean']:+.3f} ± {bias['variance'] ** 0.5:.3f}"
        )
        exact = priors["exact_rates"].get(arm)
        rows.append(
            f"<tr><td>{html.escape(arm)}</td><td>{priors['center'][arm]:.3f}</td>"
            f"<td>{priors['rates'][arm]:.3f}</td>"
            f"<td>{'n/a' if exact is None else f'{exact:.3f}'}</td>"
            f"<td>{priors['strength'][arm]:.1f}</td><td>{start}</td></tr>"
        )
    parts.append(
        f"<p>Before v2 was built, each of the {priors['clients']} nodes sent one vector: its "
        "conversion rate per arm on randomised traffic (holdout: no offer; explore: a random "
        "offer) of users with training consent, minus a public centre (the fleet's rates "
        "from the hub's DP reports, free to reuse), clipped to L2 norm "
        f"{priors['clip_norm']:g} ({priors['clipped_nodes']} nodes clipped) plus its share "
        "of Gaussian noise. The hub averaged them: "
        f"node-level epsilon {priors['epsilon']:.2f} at delta {priors['delta']:g} (noise "
        f"multiplier {priors['noise_multiplier']:.2f}), so each fleet rate carries noise of "
        f"standard deviation {priors['noise_std']:.3f}. A prior is worth r(1-r)/sd² "
        f"observations, at most {priors['strength_cap']:g}. "
        "v2's contextual policy starts each offer's logit difference from no offer at the "
        "fleet's figure, as evidence on the edge's own prior (offers do nothing, variance "
        f"{priors['base_variance']:g}); nodes that already learned under v1 keep their "
        "posterior, so the priors seed nodes that start fresh.</p>"
        "<table><tr><th>arm</th><th>centre (DP reports)</th><th>fleet rate (DP)</th>"
        "<th>exact mean of node rates</th>"
        "<th>prior strength</th><th>v2 prior: logit vs no offer (mean ± sd)</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    return "\n".join(parts)
