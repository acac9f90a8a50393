"""The console's pages as HTML bodies: fleet, rollouts, privacy and audit.

Each function reads through ``_console_data`` (or the hub's own modules) and returns the
body that ``_console_html.layout`` wraps. Where the data cannot support a figure the page
says so in words instead of drawing a misleading chart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.hub import _audit, _rollouts
from edgemark.hub import _console_data as data
from edgemark.hub._console_auth import ConsoleUser
from edgemark.hub._console_html import (
    ago,
    cards,
    chart,
    esc,
    fmt,
    link,
    notice,
    pager,
    plot_layout,
    table,
    when,
)
from edgemark.hub._db import AuditEntry, Rollout
from edgemark.hub._gates import GatePolicy


def fleet(session: Session, page: int, status: str, order: str = "name") -> str:
    """Head counts, version and latency charts, and one page of nodes."""
    now = time.time()
    s = data.fleet_summary(session, now)
    head = cards([
        ("Nodes", f"{s['nodes']:,}", ""),
        ("Offline (> 5 min)", f"{s['offline']:,}", "bad" if s["offline"] else "ok"),
        ("Drifting (PSI > 0.25)", f"{s['drifting']:,}", "warn" if s["drifting"] else "ok"),
        ("Revoked", f"{s['revoked']:,}", ""),
        ("Fleet decide P99 (max)", f"{fmt(s['p99_max'], 0)} µs", ""),
    ])  # fmt: skip
    versions = {"data": [{"type": "bar", "x": [v for v, _ in s["versions"]],
                          "y": [n for _, n in s["versions"]], "marker": {"color": "#1d4ed8"}}],
                "layout": plot_layout("bundle version", "nodes")}  # fmt: skip
    centres, counts = s["p99_bins"]
    hist = {"data": [{"type": "bar", "x": centres, "y": counts, "marker": {"color": "#0f766e"}}],
            "layout": plot_layout("decide P99 (µs)", "nodes")}  # fmt: skip
    charts = (
        f'<div class="grid2">{chart("versions", versions, "Nodes by serving bundle version")}'
        f"{chart('p99', hist, 'Decide P99 per node (last heartbeat)')}</div>"
    )
    found = data.fleet_page(session, now, page, status, order)
    rows = [
        [esc(n.name), f"<code>{esc(n.id)}</code>", esc(n.active_version),
         _heartbeat_cell(n.last_heartbeat, now), fmt(n.latency_p99_us, 0), fmt(n.h_psi, 3),
         f"{n.h_errors or 0:,} / {n.h_decisions or 0:,}",
         esc(n.last_error.get("version") if n.last_error else None)]
        for n in found.rows
    ]  # fmt: skip
    listing = table(
        ["Node", "Id", "Version", "Last heartbeat", "Decide P99 µs", "Drift PSI",
         "Errors / decisions", "Refused bundle"],
        rows, f"{found.total:,} {'' if status == 'all' else status + ' '}nodes, "
        f"{data.FLEET_ORDERS[order]}",
        numeric=frozenset({4, 5, 6}),
    )  # fmt: skip
    nav = pager("/console/fleet", found.page, found.pages, {"status": status, "order": order})
    toggle = _choices("status", status, data.FLEET_FILTERS, {"order": order}) + _choices(
        "order", order, tuple(data.FLEET_ORDERS), {"status": status}
    )
    return f"{head}{charts}<h2>Nodes</h2>{toggle}{listing}{nav}"


def _choices(name: str, current: str, options: tuple[str, ...], keep: dict[str, str]) -> str:
    """Links that set one query parameter, the current choice marked for screen readers."""
    links = [
        f'<strong aria-current="true">{esc(o)}</strong>'
        if o == current
        else link(f"/console/fleet?{urlencode({**keep, name: o})}", o)
        for o in options
    ]
    return f'<p class="choices">{esc(name.capitalize())}: {" · ".join(links)}</p>'


def _heartbeat_cell(ts: float | None, now: float) -> str:
    late = ts is None or ts < now - data.OFFLINE_AFTER_S
    text = esc(ago(ts, now))
    return f'<span class="fail">{text} (offline)</span>' if late else text


def rollouts(session: Session, page: int) -> str:
    """The active rollout on top, then every rollout, newest first."""
    current = _rollouts.active(session)
    top = (
        notice(f"Rollout {current.id} of {current.version} is {current.state.replace('_', ' ')} "
               f"(wave {current.current_wave + 1} of {len(current.waves)}).", "warn")
        + f"<p>{link(f'/console/rollouts/{current.id}', 'Open the active rollout')}</p>"
        if current else notice("No rollout is running.", "ok")
    )  # fmt: skip
    found = data.rollouts_page(session, page)
    rows = [
        [link(f"/console/rollouts/{r.id}", r.id), esc(r.version), _state(r.state),
         f"{r.current_wave + 1} / {len(r.waves)}", esc(r.previous_version), esc(when(r.created)),
         esc(r.created_by)]
        for r in found.rows
    ]  # fmt: skip
    listing = table(["Rollout", "Version", "State", "Wave", "Previous", "Started (UTC)", "By"],
                    rows, f"{found.total:,} rollouts, newest first")  # fmt: skip
    return top + listing + pager("/console/rollouts", found.page, found.pages)


def _state(state: str) -> str:
    return f'<span class="state-{esc(state)}">{esc(state.replace("_", " "))}</span>'


def rollout(session: Session, rollout_id: str, user: ConsoleUser, done: str | None) -> str:
    """One rollout: actions, waves, gates against thresholds, and its timeline."""
    r = _rollouts.get(session, rollout_id)
    head = notice(f"Rollout {done}.", "ok") if done else ""
    head += cards([
        ("State", r.state.replace("_", " "), _tone(r.state)), ("Version", r.version, ""),
        ("Wave", f"{r.current_wave + 1} of {len(r.waves)}", ""),
        ("Waiting to soak", str(r.pending), ""),
        ("Previous version", r.previous_version or "—", ""),
    ])  # fmt: skip
    return head + _actions(r, user) + _waves(r) + _gates(r) + _timeline(session, r)


def _tone(state: str) -> str:
    return {"completed": "ok", "paused": "warn", "rolled_back": "bad", "aborted": "bad"}.get(
        state, ""
    )


def _actions(r: Rollout, user: ConsoleUser) -> str:
    verbs = {"in_progress": ("pause", "abort"), "paused": ("resume", "abort")}.get(r.state, ())
    if not verbs:
        return ""
    if not user.can_deploy:
        return notice("Read-only: your token has the read scope, so pause, resume and abort "
                      "are not offered.", "info")  # fmt: skip
    buttons = "".join(
        f'<a class="button{" danger" if v == "abort" else ""}" '
        f'href="/console/rollouts/{esc(r.id)}/{v}">{v.capitalize()}…</a>'
        for v in verbs
    )
    return f'<div class="actions">{buttons}</div>'


def _waves(r: Rollout) -> str:
    rows = []
    for i, (pct, size) in enumerate(zip(r.waves, r.wave_sizes, strict=False)):
        status = "done" if i < r.current_wave else ("current" if i == r.current_wave else "next")
        if r.state in ("rolled_back", "aborted") and i >= r.current_wave:
            status = "stopped" if i == r.current_wave else "not started"
        rows.append([str(i + 1), fmt(pct, 0) + " %", f"{size:,}", esc(status)])
    return "<h2>Waves</h2>" + table(["Wave", "Share", "Nodes (cumulative)", "Status"], rows,
                                    "Waves of this rollout", numeric=frozenset({1, 2}))  # fmt: skip


_THRESHOLDS = {
    "error_rate": lambda g: f"+{g.get('max_error_rate_increase', 0) * 100:.1f} points",
    "decide_p99": lambda g: f"x{g.get('max_p99_ratio')} and > {g.get('p99_floor_us'):.0f} µs",
    "drift_psi": lambda g: f"> {g.get('max_psi')} and rest + {g.get('max_psi_increase')}",
    "conversion": lambda g: f"-{g.get('max_conversion_drop', 0) * 100:.1f} points",
}


def _gates(r: Rollout) -> str:
    gates = GatePolicy.from_json(r.gates or {}).to_json()  # defaults for keys it lacks
    if not gates.get("enabled", True):
        return "<h2>Gates</h2>" + notice("Gates are disabled for this rollout.", "warn")
    rows = [
        [esc(g.get("gate")), f'<span class="{esc(g.get("status"))}">{esc(g.get("status"))}</span>',
         _figure(g.get("wave")), _figure(g.get("rest")),
         esc(_THRESHOLDS.get(str(g.get("gate")), lambda _g: "—")(gates)), esc(g.get("detail"))]
        for g in r.last_gates
    ]  # fmt: skip
    caption = "Last gate check: the wave against the rest of the fleet (fails when worse by more"
    return "<h2>Gates</h2>" + table(
        ["Gate", "Status", "Wave", "Rest", "Fails when worse by", "Detail"], rows,
        caption + " than the threshold and significant)", numeric=frozenset({2, 3}),
    )  # fmt: skip


def _figure(value: Any) -> str:
    return fmt(value, 4) if isinstance(value, int | float) else "—"


def _timeline(session: Session, r: Rollout) -> str:
    events = _rollouts.events_of(session, r.id)
    rows = [[esc(when(e.ts)), esc(e.what)] for e in reversed(events[-200:])]
    return "<h2>Timeline</h2>" + table(["When (UTC)", "What"], rows, "Newest first")


def confirm(session: Session, rollout_id: str, verb: str, user: ConsoleUser) -> str:
    """The confirmation form for pause, resume or abort (works without JavaScript)."""
    r = _rollouts.get(session, rollout_id)
    effect = {
        "pause": "The rollout stops advancing; failing gates still roll it back.",
        "resume": "The rollout advances again from where it paused.",
        "abort": "The rollout stops and every node goes back to the previous version.",
    }[verb]
    return (
        f"<p>{esc(verb.capitalize())} rollout <strong>{esc(r.id)}</strong> of "
        f"<strong>{esc(r.version)}</strong> (now {esc(r.state.replace('_', ' '))})?</p>"
        f"{notice(effect, 'warn' if verb == 'abort' else 'info')}"
        f'<form method="post" action="/console/rollouts/{esc(r.id)}/{verb}" class="stack">'
        f'<input type="hidden" name="csrf" value="{esc(user.csrf)}">'
        '<label for="reason">Reason (goes into the audit log)</label>'
        '<input type="text" id="reason" name="reason" maxlength="500" autofocus>'
        f'<div class="actions"><button type="submit" id="confirm"'
        f"{' class=danger' if verb == 'abort' else ''}>Yes, {esc(verb)}</button>"
        f'<a class="button secondary" href="/console/rollouts/{esc(r.id)}">Cancel</a></div>'
        "</form>"
    )


def privacy(ledger: dict[str, Any], names: dict[str, str], page: int) -> str:
    """Epsilon spent per node and fleet-wide against the budgets, and federated rounds."""
    fleet_row, nodes = ledger["fleet"], ledger["nodes"]
    budget = fleet_row.get("budget")
    share = fleet_row["epsilon_spent"] / budget if budget else None
    tone = "" if share is None else ("bad" if share >= 0.9 else "warn" if share >= 0.7 else "ok")
    head = cards([
        ("Fleet epsilon spent", fmt(fleet_row["epsilon_spent"], 2), tone),
        ("Fleet budget", fmt(budget, 2) if budget else "none set", ""),
        ("Delta", f"{ledger.get('delta', 0.0):.1e}", ""), ("Nodes", f"{len(nodes):,}", ""),
    ])  # fmt: skip
    near = [n for n in nodes if n.get("budget") and n["epsilon_spent"] >= 0.8 * n["budget"]]
    warn = notice(f"{len(near)} nodes have spent at least 80% of their budget.", "bad") if near \
        else ""  # fmt: skip
    pg, pages, offset = data.page_of(len(nodes), page)
    rows = [
        [esc(names.get(n["node_id"], n["node_id"])), fmt(n["epsilon_reports"], 3),
         fmt(n["epsilon_federated"], 3), fmt(n["epsilon_spent"], 3), fmt(n.get("budget"), 2),
         _used(n["epsilon_spent"], n.get("budget"))]
        for n in nodes[offset : offset + data.PAGE_SIZE]
    ]  # fmt: skip
    listing = table(["Node", "ε reports", "ε federated", "ε spent", "Budget", "Used"], rows,
                    "Epsilon per node", numeric=frozenset({1, 2, 3, 4, 5}))  # fmt: skip
    return (
        head
        + warn
        + _rounds(ledger["rounds"])
        + "<h2>Nodes</h2>"
        + listing
        + pager("/console/privacy", pg, pages)
    )


def _used(spent: float, budget: float | None) -> str:
    if not budget:
        return "—"
    share = spent / budget
    cls = "fail" if share >= 0.9 else ""
    return f'<span class="{cls}">{share * 100:.0f} %</span>'


def _verify(session: Session) -> _audit.AuditVerdict:
    # Plain rows, not ORM objects: the same check as _audit.verify_session, half the cost.
    query = select(AuditEntry.__table__).order_by(AuditEntry.seq)
    rows = cast(Iterable[Mapping[str, Any]], (r._mapping for r in session.execute(query)))
    return _audit.verify_chain(rows, _audit.head(session))


def _rounds(rounds: list[dict[str, Any]]) -> str:
    if not rounds:
        return notice("No federated rounds recorded yet.", "info")
    runs: dict[str, list[dict[str, Any]]] = {}
    for r in rounds:  # one line per run: each run's epsilon accumulates on its own
        runs.setdefault(str(r.get("run_id", "")), []).append(r)
    fig = {"data": [{"type": "scatter", "mode": "lines+markers", "name": run or "ε",
                     "x": [r["round"] for r in rows],
                     "y": [r["epsilon_cumulative"] for r in rows]}
                    for run, rows in runs.items()],
           "layout": plot_layout("federated round", "cumulative ε")}  # fmt: skip
    return "<h2>Federated rounds</h2>" + chart("rounds", fig, "Cumulative epsilon by round")


def audit(session: Session, page: int) -> str:
    """The verification verdict of the whole chain, then entries newest first."""
    now = time.time()
    last, digest = _audit.head(session)
    verdict, at = data.memo(session, "audit", (last, digest),
                            _verify, now)  # fmt: skip
    age = "just now" if now - at < 1 else f"{now - at:.0f} s ago"
    if verdict.ok:
        head = notice(f"The chain verifies: {verdict.entries:,} entries, every hash links "
                      f"(checked {age}; again on every new entry and at least every "
                      f"{data.RECOMPUTE_S:.0f} s).", "ok")  # fmt: skip
    else:
        head = notice(f"The chain does NOT verify: {verdict.problem} (entry {verdict.seq}).", "bad")
    last, digest = _audit.head(session)
    head += f"<p>Head: entry {last:,}, hash <code>{esc(digest)}</code></p>"
    pages = max(1, math.ceil(last / data.PAGE_SIZE))
    page = min(max(1, page), pages)
    after = max(0, last - page * data.PAGE_SIZE)
    entries = _audit.entries(session, after, min(data.PAGE_SIZE, last - after))
    rows = [
        [str(e.seq), esc(when(e.ts)), esc(e.actor), esc(e.action), esc(e.target),
         f"<code>{esc(e.details)}</code>", f"<code>{esc(e.hash[:16])}…</code>"]
        for e in reversed(entries)
    ]  # fmt: skip
    listing = table(["#", "When (UTC)", "Actor", "Action", "Target", "Details", "Hash"], rows,
                    "Audit entries, newest first", numeric=frozenset({0}))  # fmt: skip
    return head + listing + pager("/console/audit", page, pages)
