"""The federated-learning and privacy-ledger section of the demo's report and summary."""

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
