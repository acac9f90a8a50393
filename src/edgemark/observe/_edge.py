"""The edge node's conventional metrics, read from one ``Runtime.stats()`` dict.

Names follow Prometheus conventions (base units, ``_total`` for counters) and every label
is bounded by the bundle (offers, arms, guardrails, features), never by users. Decide
latency is a histogram (cumulative buckets since the runtime started, for
``histogram_quantile`` over any range) and, as the node computes them itself, the P50 and
P99 of its last 4,096 decisions as gauges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgemark.observe._exposition import Exposition


def edge_families(stats: Mapping[str, Any], out: Exposition) -> None:
    """Add the conventional edge families for ``stats`` to ``out``.

    >>> e = Exposition()
    >>> edge_families({"latency_p99_us": 250.0, "decisions_by_version": {"v1": 4}}, e)
    >>> 'edgemark_decide_duration_recent_seconds{quantile="0.99"} 0.00025' in e.text()
    True
    """
    _decide(stats, out)
    _decisions(stats, out)
    blocked = stats.get("guardrails_blocked") or {}
    out.family("edgemark_guardrail_blocks_total", "counter",
               "Offers a guardrail kept from a decision, by guardrail.",
               [({"reason": str(g)}, n) for g, n in sorted(blocked.items())])  # fmt: skip
    outbox = stats.get("outbox") or {}
    out.family("edgemark_outbox_pending", "gauge", "Report rows waiting for the hub.",
               [({}, outbox.get("unsent", stats.get("unsent_reports")))])  # fmt: skip
    out.family("edgemark_outbox_send_failures", "gauge", "Consecutive failed sends to the hub.",
               [({}, outbox.get("failures"))])  # fmt: skip
    drift = stats.get("drift_psi") or {}
    out.family("edgemark_drift_psi", "gauge",
               "Population stability index against the bundle's reference histogram.",
               [({"feature": str(f)}, v) for f, v in sorted(drift.items())])  # fmt: skip
    _privacy(stats.get("privacy") or {}, out)


def _decide(stats: Mapping[str, Any], out: Exposition) -> None:
    hist = stats.get("latency_histogram")
    out.family("edgemark_decide_duration_seconds", "histogram",
               "decide() latency since the runtime started.", [])  # fmt: skip
    if isinstance(hist, Mapping) and hist.get("count"):
        bounds = [b / 1e6 for b in hist["bounds_us"]]
        out.buckets("edgemark_decide_duration_seconds", {}, bounds, hist["counts"],
                    hist["sum_us"] / 1e6, hist["count"])  # fmt: skip
    quantiles = [("0.5", stats.get("latency_p50_us")), ("0.99", stats.get("latency_p99_us"))]
    samples = [({"quantile": q}, None if v is None else v / 1e6) for q, v in quantiles]
    out.family("edgemark_decide_duration_recent_seconds", "gauge",
               "decide() latency quantiles over the last 4096 decisions.", samples)  # fmt: skip


def _decisions(stats: Mapping[str, Any], out: Exposition) -> None:
    by_offer = stats.get("decisions_by_offer")
    if isinstance(by_offer, Mapping):  # {offer: {arm: n}} when the runtime counts per offer
        samples = [
            ({"offer": str(o), "arm": str(a)}, n)
            for o, arms in sorted(by_offer.items())
            for a, n in sorted(arms.items())
        ]
    else:  # per arm only: the serving version's health counters
        health = stats.get("health") or {}
        decisions = health.get("decisions")
        holdout = health.get("holdout_exposures")
        shown = health.get("treatment_exposures")
        rest = None if decisions is None else decisions - (holdout or 0) - (shown or 0)
        samples = [({"offer": "any", "arm": "treatment"}, shown),
                   ({"offer": "none", "arm": "holdout"}, holdout),
                   ({"offer": "none", "arm": "no_offer"}, rest)]  # fmt: skip
    out.family("edgemark_decisions_total", "counter",
               "Decisions of the serving bundle, by offer and arm.", samples)  # fmt: skip


def _privacy(privacy: Mapping[str, Any], out: Exposition) -> None:
    spent = privacy.get("spent_by_period") or {}
    current = spent[max(spent, key=lambda p: int(p))] if spent else 0.0
    out.family("edgemark_privacy_epsilon_spent", "gauge",
               "Epsilon spent in the current budget period.", [({}, current)])  # fmt: skip
    out.family("edgemark_privacy_epsilon_budget", "gauge", "Epsilon budget per period.",
               [({}, privacy.get("budget_epsilon"))])  # fmt: skip
    out.family("edgemark_privacy_refused_releases_total", "counter",
               "Report releases the privacy ledger refused.",
               [({}, privacy.get("refused_releases"))])  # fmt: skip
