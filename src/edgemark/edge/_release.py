"""Closing days: build each experiment's DP rows, charge the privacy ledger, queue the rows.

One release = one experiment's rows for one data day. The ledger is asked first; a release
it refuses (``PrivacyBudgetExceeded``) is recorded with its message and never sent, and the
day is still closed, so the refusal is final rather than retried every call. Rows, counted
decisions, ledger entries and refusals are written in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgemark.edge._reports import build_day_rows
from edgemark.edge._settings import PolicySettings
from edgemark.edge._state import StateStore
from edgemark.errors import PrivacyBudgetExceeded
from edgemark.privacy import LedgerEntry, PrivacyLedger

log = logging.getLogger(__name__)


@dataclass
class Release:
    """What closing days produced: rows queued, releases refused, oldest rows dropped."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0


def release_days(
    store: StateStore,
    ledger: PrivacyLedger,
    settings: Mapping[str, PolicySettings],
    node_id: str,
    until_day: int,
    *,
    max_outbox: int,
) -> Release:
    """Report every closed day before ``until_day`` that has not been reported yet."""
    out = Release()
    for day in store.unreported_days(until_day):
        by_experiment, counted = build_day_rows(node_id, day, store.day_decisions(day), settings)
        rows: list[dict[str, Any]] = []
        spent: list[LedgerEntry] = []
        refusals: list[tuple[str, str]] = []
        for experiment, experiment_rows in by_experiment.items():
            release_id = f"{day}/{experiment}"
            epsilon = max(float(r["epsilon"]) for r in experiment_rows)
            try:
                spent.append(ledger.check(release_id, day, epsilon))
            except PrivacyBudgetExceeded as exc:
                refusals.append((experiment, str(exc)))
                out.refused.append({"day": day, "experiment": experiment, "reason": str(exc)})
                log.warning("%s", exc)
                continue
            rows.extend(experiment_rows)
            ledger.charge(release_id, day, epsilon)
        kept = {r["experiment"] for r in rows}
        counted_ok = counted if kept else []
        out.dropped += store.commit_report(
            day,
            counted_ok,
            rows,
            ledger=[(e.release_id, e.day, e.period, e.epsilon) for e in spent],
            refusals=refusals,
            max_outbox=max_outbox,
        )
        out.rows.extend(rows)
    return out
