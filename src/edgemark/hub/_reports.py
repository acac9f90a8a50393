"""Report ingestion: DP-noised rows from nodes, stored once per idempotency key.

A node resends rows until acknowledged, so duplicates are expected and counted, not errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.hub._db import Report
from edgemark.hub._schemas import ReportIn

_FIELDS = (
    "idempotency_key",
    "day",
    "experiment",
    "arm",
    "exposures",
    "conversions",
    "revenue",
    "epsilon",
    "count_noise_scale",
    "revenue_noise_scale",
    "revenue_sq",
    "revenue_sq_noise_scale",
    "max_contributions",
)
_CHUNK = 500  # stays below SQLite's limit on bound parameters per statement


def store_reports(
    session: Session, node_id: str, rows: Sequence[ReportIn], now: float
) -> tuple[int, int]:
    """Insert rows whose idempotency key is new; return ``(stored, duplicates)``."""
    keys = [r.idempotency_key for r in rows]
    seen: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        seen.update(
            session.scalars(select(Report.idempotency_key).where(Report.idempotency_key.in_(chunk)))
        )
    stored = 0
    for row in rows:
        if row.idempotency_key in seen:
            continue
        seen.add(row.idempotency_key)
        session.add(Report(node_id=node_id, received_at=now, **row.model_dump()))
        stored += 1
    session.flush()
    return stored, len(rows) - stored


def report_rows(session: Session) -> list[dict[str, Any]]:
    """Every stored row as the contract's JSON plus ``node_id`` and ``received_at``.

    ``revenue_sq``, ``revenue_sq_noise_scale`` and ``max_contributions`` are None on rows
    from nodes that predate revenue intervals."""
    out = []
    for r in session.scalars(select(Report).order_by(Report.id)):
        row = {f: getattr(r, f) for f in _FIELDS}
        row["node_id"] = r.node_id
        row["received_at"] = r.received_at
        out.append(row)
    return out
