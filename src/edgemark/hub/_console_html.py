"""The console's HTML: page layout, escaped building blocks, charts, the stylesheet and script.

Every value goes through ``esc`` (``html.escape``), so nothing a node or an operator sent
can inject markup. Pages carry no inline script (the CSP forbids it): chart figures are
JSON in ``<script type="application/json">`` blocks that ``console.js`` hands to Plotly.
No URL outside the hub appears anywhere.
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from edgemark.hub._console_auth import ConsoleUser

PAGES = (
    ("fleet", "Fleet"),
    ("rollouts", "Rollouts"),
    ("experiments", "Experiments"),
    ("privacy", "Privacy"),
    ("audit", "Audit"),
    ("bundles", "Bundles"),
)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer makes Chromium send Origin: null
    "Cache-Control": "no-store",
}


def esc(value: object) -> str:
    """``value`` as escaped HTML text (None shows as an em dash)."""
    return "—" if value is None else html.escape(str(value), quote=True)


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for a table cell (None and NaN show as an em dash)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}"


def ago(ts: float | None, now: float | None = None) -> str:
    """How long ago ``ts`` was, in words a person reads at a glance."""
    if ts is None:
        return "never"
    seconds = max(0.0, (time.time() if now is None else now) - ts)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def when(ts: float | None) -> str:
    """A UTC timestamp as ``YYYY-MM-DD HH:MM:SS``."""
    return "—" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    caption: str,
    *,
    numeric: frozenset[int] = frozenset(),
) -> str:
    """A table whose cells are already-escaped HTML; ``numeric`` columns align right."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    if not body:
        body = f'<tr><td colspan="{len(headers)}">Nothing to show.</td></tr>'
    return (
        f'<div class="scroll"><table><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def link(href: str, text: str) -> str:
    """An escaped link inside the console."""
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def pager(base: str, page: int, pages: int, params: Mapping[str, str] | None = None) -> str:
    """Previous/next links and "page i of n"."""

    def href(p: int) -> str:
        return f"{base}?{urlencode({**(params or {}), 'page': str(p)})}"

    prev = link(href(page - 1), "← Previous") if page > 1 else '<span aria-disabled="true"></span>'
    nxt = link(href(page + 1), "Next →") if page < pages else '<span aria-disabled="true"></span>'
    return (
        f'<nav class="pager" aria-label="Pages">{prev}'
        f"<span>Page {page} of {max(pages, 1)}</span>{nxt}</nav>"
    )


def cards(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline figures: (label, value, tone) with tone ``ok``, ``warn``, ``bad`` or ``""``."""
    inner = "".join(
        f'<div class="card {esc(tone)}"><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(value)}</div></div>'
        for label, value, tone in items
    )
    return f'<div class="cards">{inner}</div>'


def notice(text: str, tone: str = "info") -> str:
    """A highlighted sentence (``info``, ``warn``, ``bad`` or ``ok``)."""
    return f'<p class="notice {esc(tone)}" role="status">{esc(text)}</p>'


def chart(chart_id: str, figure: Mapping[str, Any], label: str) -> str:
    """A Plotly chart: its figure as inert JSON, drawn by console.js."""
    data = json.dumps(figure, separators=(",", ":")).replace("</", "<\\/")
    return (
        f'<figure class="chart"><div id="{esc(chart_id)}" class="plot" role="img" '
        f'aria-label="{esc(label)}" data-figure="{esc(chart_id)}-data"></div>'
        f"<figcaption>{esc(label)}</figcaption></figure>"
        f'<script type="application/json" id="{esc(chart_id)}-data">{data}</script>'
    )


def plot_layout(x: str, y: str) -> dict[str, Any]:
    """Margins, height and axis titles shared by the console's charts."""
    return {"margin": {"l": 50, "r": 10, "t": 10, "b": 50}, "height": 280,
            "xaxis": {"title": {"text": x}}, "yaxis": {"title": {"text": y}}}  # fmt: skip


def layout(title: str, body: str, user: ConsoleUser | None, active: str = "") -> str:
    """A whole console page: skip link, navigation, who is logged in, then ``body``."""
    nav = "".join(
        f'<a href="/console/{key}"{" aria-current=page" if key == active else ""}>{esc(name)}</a>'
        for key, name in PAGES
    )
    if user is None:
        who, nav = "", ""
    else:
        mode = "" if user.can_deploy else ' <span class="badge">read-only</span>'
        who = (
            f'<form method="post" action="/console/logout" class="who">'
            f'<input type="hidden" name="csrf" value="{esc(user.csrf)}">'
            f"<span>{esc(user.actor)} ({esc(user.scope)}){mode}</span>"
            f'<button type="submit">Log out</button></form>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · edgemark console</title>"
        '<link rel="stylesheet" href="/console/static/console.css">'
        '<script src="/console/static/plotly.min.js" defer></script>'
        '<script src="/console/static/console.js" defer></script></head><body>'
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header><span class="brand">edgemark</span><nav aria-label="Sections">{nav}</nav>'
        f'{who}</header><main id="main" tabindex="-1"><h1>{esc(title)}</h1>{body}</main>'
        "</body></html>"
    )


def error_page(status: int, message: str, user: ConsoleUser | None) -> str:
    """The page for 401, 403, 404 and 409: what happened and what to do."""
    titles = {
        401: "Please log in",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible now",
        503: "Something went wrong",
    }
    hint = {
        401: link("/console/login", "Log in with an admin token"),
        403: "Ask an administrator for a token with the scope this needs.",
        404: link("/console/fleet", "Back to the fleet"),
    }.get(status, link("/console/rollouts", "Back to the rollouts"))
    body = (
        f'<p class="notice bad" role="alert">{esc(message)}</p>'
        f'<p>{hint}</p><p class="muted">HTTP status {status}</p>'
    )
    return layout(titles.get(status, "Error"), body, user)


CSS = """
:root{--fg:#111827;--muted:#4b5563;--bg:#ffffff;--panel:#f3f4f6;--line:#d1d5db;
--accent:#1d4ed8;--ok:#166534;--okbg:#dcfce7;--warn:#854d0e;--warnbg:#fef9c3;
--bad:#991b1b;--badbg:#fee2e2;--focus:#f59e0b}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
a:focus,button:focus,input:focus,main:focus{outline:3px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px}
header{display:flex;flex-wrap:wrap;gap:12px;align-items:center;padding:8px 16px;
background:#111827;color:#fff}
header a{color:#fff;text-decoration:none;padding:6px 10px;border-radius:4px}
header a[aria-current=page]{background:#374151;text-decoration:underline}
header nav{display:flex;flex-wrap:wrap;gap:4px;flex:1}
.brand{font-weight:700;margin-right:12px}
.who{display:flex;gap:8px;align-items:center;margin:0}
main{padding:16px;max-width:1400px;margin:0 auto}
h1{font-size:1.6rem;margin:4px 0 12px}h2{font-size:1.2rem;margin:20px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px}
.card{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px}
.card .label{color:var(--muted);font-size:.85rem}.card .value{font-size:1.4rem;font-weight:600}
.card.ok{background:var(--okbg);color:var(--ok)}.card.warn{background:var(--warnbg);color:var(--warn)}
.card.bad{background:var(--badbg);color:var(--bad)}
.card.ok .label,.card.warn .label,.card.bad .label{color:inherit}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:.95rem}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:var(--panel)}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;word-break:break-all}
.notice{padding:8px 12px;border-radius:6px;background:#dbeafe;color:#1e3a8a}
.notice.ok{background:var(--okbg);color:var(--ok)}.notice.warn{background:var(--warnbg);color:var(--warn)}
.notice.bad{background:var(--badbg);color:var(--bad)}
.pager{display:flex;gap:16px;align-items:center;margin:8px 0}
.badge{background:#fde68a;color:#78350f;border-radius:4px;padding:1px 6px;font-size:.8rem}
.state-in_progress{color:#1e40af;font-weight:600}.state-paused{color:var(--warn);font-weight:600}
.state-completed{color:var(--ok)}.state-rolled_back,.state-aborted{color:var(--bad)}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}
.no_data{color:var(--muted)}.muted{color:var(--muted)}
button,.button{font:inherit;padding:6px 14px;border-radius:4px;border:1px solid #1e3a8a;
background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.danger,.button.danger{background:#b91c1c;border-color:#7f1d1d}
.button.secondary,button.secondary{background:#fff;color:var(--accent)}
header button{background:#374151;border-color:#6b7280}
.actions{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0}
form.stack{display:grid;gap:8px;max-width:520px}
input[type=text],input[type=password]{font:inherit;padding:6px;border:1px solid #6b7280;
border-radius:4px;width:100%}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.chart{margin:8px 0}.plot{min-height:280px}
figcaption{color:var(--muted);font-size:.85rem}
pre{background:var(--panel);padding:8px;overflow:auto;max-height:420px;font-size:.8rem}
@media (max-width:900px){.grid2{grid-template-columns:1fr}main{padding:8px}}
"""

JS = """
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("div.plot[data-figure]").forEach(function (el) {
    var src = document.getElementById(el.getAttribute("data-figure"));
    if (!src) { return; }
    if (typeof Plotly === "undefined") {
      el.textContent = "Charts need plotly on the hub (pip install 'edgemark[report]').";
      return;
    }
    var fig = JSON.parse(src.textContent);
    Plotly.newPlot(el, fig.data, fig.layout || {},
      {displaylogo: false, responsive: true, displayModeBar: false});
  });
});
"""
