"""GET /metrics: the node's figures in the Prometheus text exposition format (version 0.0.4).

Written by hand rather than with prometheus-client on purpose: the core install is the
edge install, the format is a small stable text format, and every figure already lives in
``Runtime.stats()``, so a registry of live metric objects would duplicate that state.
The ``edgemark_edge_*`` families are the node's own; the conventional families shared
with the hub's dashboard and alerts (``edgemark_decide_duration_seconds``, ...) come from
``edgemark.observe.edge_families``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from edgemark.observe import Exposition, edge_families

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_HEALTH = (
    "decisions",
    "errors",
    "treatment_exposures",
    "treatment_conversions",
    "holdout_exposures",
    "holdout_conversions",
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[Mapping[str, str], Any]]
    ) -> None:
        name = f"edgemark_edge_{name}"
        rows = [(labels, value) for labels, value in samples if value is not None]
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in rows:
            self.lines.append(f"{name}{_labels(labels)} {_number(value)}")


def _number(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def render_metrics(stats: Mapping[str, Any], http: Mapping[tuple[str, int], int]) -> str:
    """The exposition text for one ``Runtime.stats()`` and the API's request counters.

    >>> text = render_metrics({"decisions_by_version": {"v1": 3}}, {("/v1/decide", 200): 2})
    >>> 'edgemark_edge_decisions_total{version="v1"} 3' in text
    True
    """
    w = _Writer()
    version = stats.get("active_version")
    info = {"node": str(stats.get("node_id", "")), "version": str(version)}
    w.family(
        "bundle_info", "gauge", "The serving bundle (value 1).", [(info, 1)] if version else []
    )
    by_version = stats.get("decisions_by_version", {})
    w.family("decisions_total", "counter", "Decisions made, by bundle version.",
             [({"version": v}, n) for v, n in by_version.items()])  # fmt: skip
    quantiles = [({"quantile": "0.5"}, stats.get("latency_p50_us")),
                 ({"quantile": "0.99"}, stats.get("latency_p99_us"))]  # fmt: skip
    w.family("decide_latency_us", "gauge", "decide() latency of the last 4096 calls.", quantiles)
    health = stats.get("health") or {}
    for key in _HEALTH:
        sample = [({"version": str(health.get("version"))}, health.get(key))] if health else []
        text = f"{key.replace('_', ' ').capitalize()} of the serving version."
        w.family(f"version_{key}_total", "counter", text, sample)
    events = [({"type": t}, n) for t, n in stats.get("events", {}).items()]
    w.family("events_total", "counter", "Events accepted, by type.", events)
    duplicates: list[tuple[Mapping[str, str], Any]] = [({}, stats.get("duplicate_events"))]
    w.family("duplicate_events_total", "counter", "Events whose id was seen before.", duplicates)
    blocked = [({"guardrail": g}, n) for g, n in stats.get("guardrails_blocked", {}).items()]
    w.family(
        "guardrail_blocks_total", "counter", "Offers kept from decisions, by guardrail.", blocked
    )
    attribution = stats.get("attribution", {})
    conversions = [({"offer": o}, a["conversions"]) for o, a in attribution.items()]
    w.family("attributed_conversions", "gauge", "Purchases credited to offers.", conversions)
    revenue = [({"offer": o}, a["revenue"]) for o, a in attribution.items()]
    w.family("attributed_revenue", "gauge", "Revenue credited to offers.", revenue)
    drift = [({"feature": f}, v) for f, v in stats.get("drift_psi", {}).items()]
    w.family("drift_psi", "gauge", "PSI against the bundle's reference histograms.", drift)
    outbox = stats.get("outbox", {})
    w.family("outbox_unsent", "gauge", "Report rows waiting for the hub.",
             [({}, outbox.get("unsent"))])  # fmt: skip
    w.family("outbox_dropped_total", "counter", "Oldest report rows dropped (outbox full).",
             [({}, outbox.get("dropped"))])  # fmt: skip
    w.family("outbox_failures", "gauge", "Consecutive failed sends to the hub.",
             [({}, outbox.get("failures"))])  # fmt: skip
    privacy = stats.get("privacy", {})
    w.family("privacy_budget_epsilon", "gauge", "Privacy budget per period.",
             [({}, privacy.get("budget_epsilon"))])  # fmt: skip
    spent = [({"period": p}, e) for p, e in privacy.get("spent_by_period", {}).items()]
    w.family("privacy_epsilon_spent", "gauge", "Epsilon spent, by period.", spent)
    w.family("privacy_refused_releases_total", "counter", "Releases the ledger refused.",
             [({}, privacy.get("refused_releases"))])  # fmt: skip
    requests = [({"route": r, "status": str(c)}, n) for (r, c), n in sorted(http.items())]
    w.family("http_requests_total", "counter", "Local API requests, by route and status.", requests)
    conventional = Exposition()
    edge_families(stats, conventional)
    return "\n".join(w.lines) + "\n" + conventional.text()
