"""Durable edge state in SQLite (WAL, synchronous=NORMAL) under ``state_dir/edge.db``.

Owns the schema (decisions, conversions, posteriors, user features, outbox, reported days,
meta). Only pseudonyms are ever written. Decisions are buffered and written in batches so
the hot path does no I/O; ``flush()`` writes everything pending in one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, ts REAL NOT NULL, day INTEGER NOT NULL,
    experiment TEXT NOT NULL, arm TEXT NOT NULL, offer TEXT, probability REAL NOT NULL,
    bundle_version TEXT NOT NULL, consent_measurement INTEGER NOT NULL,
    counted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS decisions_day ON decisions (day);
CREATE INDEX IF NOT EXISTS decisions_user ON decisions (pseudonym, ts);
CREATE TABLE IF NOT EXISTS conversions (
    decision_id TEXT PRIMARY KEY, ts REAL NOT NULL, revenue REAL NOT NULL);
CREATE TABLE IF NOT EXISTS posteriors (
    experiment TEXT NOT NULL, offer TEXT NOT NULL, exposures REAL NOT NULL,
    conversions REAL NOT NULL, PRIMARY KEY (experiment, offer));
CREATE TABLE IF NOT EXISTS user_features (pseudonym TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    idempotency_key TEXT PRIMARY KEY, payload TEXT NOT NULL, created REAL NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS reported_days (day INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

DecisionRow = tuple[str, str, float, int, str, str, str | None, float, str, int]
"""(id, pseudonym, ts, day, experiment, arm, offer, probability, bundle_version, consent)."""


class StateStore:
    """The node's SQLite database; every method is thread-safe (one connection, one lock)."""

    def __init__(self, path: Path, *, batch_size: int = 256) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._batch_size = batch_size
        self._pending: list[DecisionRow] = []

    # -- hot path -------------------------------------------------------------------------
    def add_decision(self, row: DecisionRow) -> bool:
        """Buffer one decision row; True when the buffer is full and should be flushed."""
        self._pending.append(row)
        return len(self._pending) >= self._batch_size

    # -- batched writes -------------------------------------------------------------------
    def take_pending(self) -> list[DecisionRow]:
        """Hand over the buffered decision rows (the caller writes them with ``flush``)."""
        rows, self._pending = self._pending, []
        return rows

    def flush(
        self,
        posteriors: Mapping[tuple[str, str], tuple[float, float]] | None = None,
        user_states: Mapping[str, dict[str, Any]] | None = None,
        rows: list[DecisionRow] | None = None,
        forgotten: Iterable[str] = (),
    ) -> None:
        """Write decision rows (default: the pending ones), posteriors and user states at once."""
        if rows is None:
            rows = self.take_pending()
        with self._lock:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR IGNORE INTO decisions (id, pseudonym, ts, day, experiment, arm,"
                    " offer, probability, bundle_version, consent_measurement)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    rows,
                )
                if posteriors:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO posteriors VALUES (?,?,?,?)",
                        [(e, o, x, c) for (e, o), (x, c) in posteriors.items()],
                    )
                if user_states:
                    self._db.executemany(
                        "INSERT OR REPLACE INTO user_features VALUES (?,?)",
                        [(u, json.dumps(s, sort_keys=True)) for u, s in user_states.items()],
                    )
                self._db.executemany(
                    "DELETE FROM user_features WHERE pseudonym = ?", [(u,) for u in forgotten]
                )

    def add_conversion(self, decision_id: str, ts: float, revenue: float) -> None:
        """Record the (single) conversion of a decision."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO conversions VALUES (?,?,?)", (decision_id, ts, revenue)
            )

    # -- reads on start -------------------------------------------------------------------
    def posteriors(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(exposures, conversions) per (experiment, offer)."""
        with self._lock:
            cur = self._db.execute(
                "SELECT experiment, offer, exposures, conversions FROM posteriors"
            )
            return {(e, o): (x, c) for e, o, x, c in cur}

    def user_states(self) -> dict[str, dict[str, Any]]:
        """Feature state per pseudonym."""
        with self._lock:
            cur = self._db.execute("SELECT pseudonym, state FROM user_features")
            return {u: json.loads(s) for u, s in cur}

    def last_decisions(self) -> list[tuple[str, str, float, str, str, str | None, bool]]:
        """Latest decision per pseudonym: (pseudonym, id, ts, experiment, arm, offer, converted)."""
        with self._lock:
            cur = self._db.execute(
                "SELECT d.pseudonym, d.id, d.ts, d.experiment, d.arm, d.offer,"
                " c.decision_id IS NOT NULL FROM decisions d"
                " JOIN (SELECT pseudonym, max(ts) AS ts FROM decisions GROUP BY pseudonym) l"
                " ON d.pseudonym = l.pseudonym AND d.ts = l.ts"
                " LEFT JOIN conversions c ON c.decision_id = d.id"
            )
            return [(p, i, t, e, a, o, bool(c)) for p, i, t, e, a, o, c in cur]

    def decisions_by_version(self) -> dict[str, int]:
        """Number of stored decisions per bundle version."""
        with self._lock:
            cur = self._db.execute(
                "SELECT bundle_version, count(*) FROM decisions GROUP BY bundle_version"
            )
            return {v: int(n) for v, n in cur}

    # -- reports --------------------------------------------------------------------------
    def unreported_days(self, until_day: int) -> list[int]:
        """Days before ``until_day`` that have decisions and no report yet."""
        with self._lock:
            cur = self._db.execute(
                "SELECT DISTINCT day FROM decisions WHERE day < ? AND day NOT IN"
                " (SELECT day FROM reported_days) ORDER BY day",
                (until_day,),
            )
            return [int(d) for (d,) in cur]

    def day_decisions(self, day: int) -> list[tuple[str, str, str, str, int, float | None]]:
        """(id, pseudonym, experiment, arm, consent, revenue or None) of a day, by user, ts."""
        with self._lock:
            cur = self._db.execute(
                "SELECT d.id, d.pseudonym, d.experiment, d.arm, d.consent_measurement, c.revenue"
                " FROM decisions d LEFT JOIN conversions c ON c.decision_id = d.id"
                " WHERE d.day = ? ORDER BY d.pseudonym, d.ts, d.id",
                (day,),
            )
            return list(cur)

    def commit_report(self, day: int, counted: Iterable[str], rows: list[dict[str, Any]]) -> None:
        """Mark ``day`` reported, its counted decisions, and queue ``rows`` in the outbox."""
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR IGNORE INTO reported_days VALUES (?)", (day,))
            self._db.executemany(
                "UPDATE decisions SET counted = 1 WHERE id = ?", [(i,) for i in counted]
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (idempotency_key, payload, created) VALUES (?,?,?)",
                [(r["idempotency_key"], json.dumps(r, sort_keys=True), now) for r in rows],
            )

    # -- outbox ---------------------------------------------------------------------------
    def unsent(self, limit: int = 500) -> list[dict[str, Any]]:
        """Report rows not yet acknowledged by the hub, oldest first."""
        with self._lock:
            cur = self._db.execute(
                "SELECT payload FROM outbox WHERE sent = 0 ORDER BY created, idempotency_key"
                " LIMIT ?",
                (limit,),
            )
            return [json.loads(p) for (p,) in cur]

    def mark_sent(self, keys: Iterable[str]) -> None:
        """Mark outbox rows as acknowledged by the hub."""
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE outbox SET sent = 1 WHERE idempotency_key = ?", [(k,) for k in keys]
            )

    def outbox_payloads(self) -> list[bytes]:
        """Every outbox payload as stored (for audits and tests)."""
        with self._lock:
            return [p.encode() for (p,) in self._db.execute("SELECT payload FROM outbox")]

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A meta value, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value."""
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))

    def meta_items(self, prefix: str) -> list[tuple[str, str]]:
        """Meta (key, value) pairs whose key starts with ``prefix``."""
        with self._lock:
            cur = self._db.execute(
                "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
            )
            return [(str(k), str(v)) for k, v in cur]

    def close(self) -> None:
        """Flush pending decisions and close the connection."""
        self.flush()
        with self._lock:
            self._db.close()
