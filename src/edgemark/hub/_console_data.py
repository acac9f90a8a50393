"""What the console's pages read from the hub database: paged, aggregated in SQL.

Every list is paged (LIMIT/OFFSET over an indexed order) and every headline figure is one
aggregate query, so a page costs the same with 10 nodes or 10,000. Nothing here writes.
"""

from __future__ import annotations

import io
import json
import logging
import math
import tarfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Integer, case, cast, func, literal_column, select
from sqlalchemy.orm import Session

from edgemark.errors import EdgemarkError, HubError
from edgemark.hub import _ledger
from edgemark.hub._db import Bundle, FederatedRound, Node, Report, Rollout

log = logging.getLogger(__name__)
PAGE_SIZE = 50
OFFLINE_AFTER_S = 300.0
DRIFT_ALERT_PSI = 0.25
RECOMPUTE_S = 60.0
SLOW_S = 0.1
# Per database engine (one per hub app), so two hubs in one process never share figures.
_memos: weakref.WeakKeyDictionary[Any, dict[str, _Memo]] = weakref.WeakKeyDictionary()
_memos_lock = threading.Lock()


@dataclass
class _Memo:
    lock: threading.Lock = field(default_factory=threading.Lock)
    key: Any = None
    at: float = -math.inf
    took: float = 0.0
    value: Any = None
    refreshing: bool = False


def memo(
    session: Session,
    name: str,
    key: Any,
    compute: Callable[[Session], Any],
    now: float,
    *,
    stale_ok: bool = False,
) -> tuple[Any, float]:
    """``compute(session)``'s value and when it was computed.

    Fresh while ``key`` (a cheap fingerprint of the data) is unchanged, for up to
    ``RECOMPUTE_S`` seconds. A slow value (over ``SLOW_S`` to compute) is served after
    that while a background thread recomputes it, and, with ``stale_ok``, also after
    ``key`` changed (the page says how old its figures are). So a large, busy fleet costs
    one recomputation a minute and no viewer waits for it but the first; cheap figures
    are always fresh.
    """
    with _memos_lock:
        entry = _memos.setdefault(session.get_bind(), {}).setdefault(name, _Memo())
    with entry.lock:  # concurrent viewers of a cold page wait for one computation
        young = now - entry.at < RECOMPUTE_S
        if entry.key == key and young:
            return entry.value, entry.at
        if entry.took > SLOW_S and (entry.key == key or stale_ok):
            if not young and not entry.refreshing:
                entry.refreshing = True
                threading.Thread(target=_refresh, args=(entry, session.get_bind(), key, compute),
                                 name=f"console-{name}", daemon=True).start()  # fmt: skip
            return entry.value, entry.at
        _store(entry, key, compute, session)
        return entry.value, entry.at


def _store(entry: _Memo, key: Any, compute: Callable[[Session], Any], session: Session) -> None:
    started = time.perf_counter()
    value = compute(session)
    entry.key, entry.at, entry.value = key, time.time(), value
    entry.took = time.perf_counter() - started


def _refresh(entry: _Memo, bind: Any, key: Any, compute: Callable[[Session], Any]) -> None:
    try:
        with Session(bind) as session, entry.lock:
            _store(entry, key, compute, session)
    except Exception:  # the page keeps its older figures and says how old they are
        log.warning("recomputing console figures failed", exc_info=True)
    finally:
        entry.refreshing = False


def reports_key(session: Session) -> tuple[int, int]:
    """A fingerprint of the report table (rows are only ever added)."""
    count, last = session.execute(select(func.count(), func.max(Report.id))).one()
    return int(count or 0), int(last or 0)


@dataclass(frozen=True)
class Page:
    """One page of rows and where it sits in the whole list."""

    rows: list[Any]
    page: int
    pages: int
    total: int


def page_of(total: int, page: int, size: int = PAGE_SIZE) -> tuple[int, int, int]:
    """``(page, pages, offset)`` with ``page`` clamped into range."""
    pages = max(1, math.ceil(total / size))
    page = min(max(1, page), pages)
    return page, pages, (page - 1) * size


def fleet_summary(session: Session, now: float) -> dict[str, Any]:
    """Head counts, versions, and the spread of decide P99 and drift over live nodes."""
    live = Node.revoked_at.is_(None)
    offline = case((Node.last_heartbeat.is_(None), 1),
                   (Node.last_heartbeat < now - OFFLINE_AFTER_S, 1), else_=0)  # fmt: skip
    drifting = case((Node.h_psi > DRIFT_ALERT_PSI, 1), else_=0)
    row = session.execute(
        select(func.count(), func.sum(offline), func.sum(drifting), func.max(Node.h_psi))
        .where(live)
    ).one()  # fmt: skip
    revoked = session.scalar(select(func.count()).where(Node.revoked_at.is_not(None)))
    versions = session.execute(
        select(Node.active_version, func.count()).where(live).group_by(Node.active_version)
    ).all()
    return {
        "nodes": int(row[0]), "offline": int(row[1] or 0), "drifting": int(row[2] or 0),
        "max_psi": row[3], "revoked": int(revoked or 0),
        "versions": sorted(((v or "none", int(n)) for v, n in versions), key=lambda x: -x[1]),
        **p99_spread(session),
    }  # fmt: skip


def p99_spread(session: Session, bins: int = 30) -> dict[str, Any]:
    """Median, largest and a histogram of the live nodes' decide P99, computed by the
    database (a page carries 30 bars, not one number per node)."""
    p99 = Node.latency_p99_us
    known = (Node.revoked_at.is_(None), p99.is_not(None))
    count, low, high = session.execute(
        select(func.count(), func.min(p99), func.max(p99)).where(*known)
    ).one()
    if not count or low is None or high is None:
        return {"p99_median": None, "p99_max": None, "p99_bins": ([], [])}
    median = session.scalar(select(p99).where(*known).order_by(p99).offset(count // 2).limit(1))
    width = (high - low) / bins or 1.0
    # Inline numbers (they come from the database, not from a request): PostgreSQL must
    # see the grouped expression and the selected one as the same text.
    raw = cast(func.floor((p99 - literal_column(repr(float(low)))) / literal_column(repr(width))),
               Integer)  # fmt: skip
    last: ColumnElement[int] = literal_column(str(bins - 1))
    index = case((raw > last, last), else_=raw)
    found = session.execute(select(index, func.count()).where(*known).group_by(index)).all()
    counts: dict[int, int] = {int(i): int(n) for i, n in found}
    centres = [round(low + (i + 0.5) * width, 1) for i in range(bins)]
    return {"p99_median": median, "p99_max": high,
            "p99_bins": (centres, [counts.get(i, 0) for i in range(bins)])}  # fmt: skip


FLEET_FILTERS = ("all", "offline", "drifting")
_FLEET_COLUMNS = (
    Node.id, Node.name, Node.active_version, Node.last_heartbeat, Node.latency_p99_us,
    Node.h_psi, Node.h_errors, Node.h_decisions, Node.last_error,
)  # fmt: skip
FLEET_ORDERS = {"name": "by name", "p99": "slowest decide P99 first", "psi": "most drift first"}


def fleet_page(session: Session, now: float, page: int, status: str, order: str = "name") -> Page:
    """A page of live nodes: all, ``offline`` (silent) or ``drifting`` (PSI above the alert
    level), by name or worst first (``p99``, ``psi``)."""
    query = select(Node).where(Node.revoked_at.is_(None))
    if status == "offline":
        query = query.where(
            (Node.last_heartbeat.is_(None)) | (Node.last_heartbeat < now - OFFLINE_AFTER_S)
        )
    elif status == "drifting":
        query = query.where(Node.h_psi > DRIFT_ALERT_PSI)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page, pages, offset = page_of(total, page)
    worst = {"p99": Node.latency_p99_us, "psi": Node.h_psi}.get(order)
    keys = (Node.name,) if worst is None else (worst.is_(None), worst.desc(), Node.name)
    columns = select(*_FLEET_COLUMNS).where(Node.id.in_(query.with_only_columns(Node.id)
                                                        .order_by(*keys).offset(offset)
                                                        .limit(PAGE_SIZE)))  # fmt: skip
    rows = list(session.execute(columns.order_by(*keys)))
    return Page(rows, page, pages, total)


def rollouts_page(session: Session, page: int) -> Page:
    """A page of rollouts, newest first."""
    total = int(session.scalar(select(func.count()).select_from(Rollout)) or 0)
    page, pages, offset = page_of(total, page, 25)
    query = select(Rollout).order_by(Rollout.seq.desc()).offset(offset).limit(25)
    return Page(list(session.scalars(query)), page, pages, total)


def report_cells(session: Session) -> list[dict[str, Any]]:
    """Report rows summed per experiment, node and arm, noise variances kept exact.

    A cell's ``count_noise_scale`` is sqrt(sum b^2): the uplift adds 2 b^2 per row, so one
    summed row with that scale has the same noise variance as the rows it replaces.
    """
    query = select(
        Report.experiment, Report.node_id, Report.arm, func.sum(Report.exposures),
        func.sum(Report.conversions), func.sum(Report.revenue),
        func.sum(Report.count_noise_scale * Report.count_noise_scale), func.count(),
    ).group_by(Report.experiment, Report.node_id, Report.arm)  # fmt: skip
    return [
        {"experiment": e, "node_id": n, "arm": a, "exposures": int(x or 0),
         "conversions": int(c or 0), "revenue": float(r or 0.0),
         "count_noise_scale": math.sqrt(max(0.0, float(v or 0.0))), "rows": int(k)}
        for e, n, a, x, c, r, v, k in session.execute(query)
    ]  # fmt: skip


def rounds_count(session: Session) -> int:
    """How many federated rounds the hub has recorded (part of the privacy page's key)."""
    return int(session.scalar(select(func.count()).select_from(FederatedRound)) or 0)


def privacy_ledger(session: Session, budget: float | None, now: float) -> dict[str, Any]:
    """The privacy ledger against ``budget``, shared by the Privacy page and the hub's
    /metrics, recomputed when reports or rounds arrive (a stale copy is served meanwhile)."""
    key = (reports_key(session), rounds_count(session), budget)
    ledger, _at = memo(session, "privacy", key, lambda s: _ledger.privacy_ledger(s, budget),
                       now, stale_ok=True)  # fmt: skip
    return dict(ledger)


def node_names(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """Names of the nodes with these ids."""
    if not ids:
        return {}
    return dict(session.execute(select(Node.id, Node.name).where(Node.id.in_(list(ids)))).all())


def bundles_page(session: Session, page: int) -> Page:
    """A page of the registry, newest first."""
    total = int(session.scalar(select(func.count()).select_from(Bundle)) or 0)
    page, pages, offset = page_of(total, page)
    query = select(Bundle).order_by(Bundle.created.desc(), Bundle.version)
    return Page(list(session.scalars(query.offset(offset).limit(PAGE_SIZE))), page, pages, total)


def bundle_files(path: Path) -> dict[str, Any]:
    """The manifest, model card and signature facts of a stored bundle (read, not unpacked).

    HubError 404 when the file is gone or unreadable.
    """
    wanted = {"manifest.json", "card.json", "manifest.sig"}
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
            names = tar.getnames()
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.name in wanted else None
                if handle is not None:
                    found[member.name] = handle.read(4 * 1024 * 1024)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise HubError(f"The stored bundle {path.name} cannot be read: {exc}", 404) from None
    return {
        "files": names,
        "manifest": _json(found.get("manifest.json")),
        "card": _json(found.get("card.json")),
        "signature": found.get("manifest.sig"),
        "sigstore": path.with_name(path.name.removesuffix(".tar.gz") + ".sigstore.json").is_file(),
    }


def _json(raw: bytes | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def measure_error(exc: EdgemarkError) -> str:
    """A measurement refusal as one sentence for the page."""
    return str(exc).rstrip(".") + "."
