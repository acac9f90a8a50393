"""Copy variants as bandit actions: Thompson sampling over each copy type's phrasings with
exact logged propensities, a durable log keyed by decision id (``state_dir/variants.db``),
and learning from the conversions the edge attributes to those decisions.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
import uuid
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import ConfigError

VARIANTS_DB = "variants.db"
GRID = 4096
_BATCH = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS variant_log (
    id TEXT PRIMARY KEY, decision_id TEXT, ts REAL NOT NULL, copy_type TEXT NOT NULL,
    offer TEXT, action TEXT NOT NULL, variant_id TEXT NOT NULL, propensity REAL NOT NULL,
    probabilities TEXT NOT NULL, pack_version TEXT NOT NULL,
    state TEXT NOT NULL, reward REAL, revenue REAL);
CREATE UNIQUE INDEX IF NOT EXISTS variant_log_decision
    ON variant_log (decision_id, copy_type) WHERE decision_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS variant_log_pending ON variant_log (state) WHERE state = 'pending';
CREATE TABLE IF NOT EXISTS variant_posteriors (
    copy_type TEXT NOT NULL, action TEXT NOT NULL, exposures REAL NOT NULL,
    conversions REAL NOT NULL, PRIMARY KEY (copy_type, action));
"""
LOG_COLUMNS = (
    "log_id",
    "decision_id",
    "ts",
    "copy_type",
    "offer",
    "action",
    "variant_id",
    "propensity",
    "reward",
    "revenue",
    "pack_version",
)


def thompson_probabilities(
    alpha: npt.ArrayLike, beta: npt.ArrayLike, grid: int = GRID
) -> npt.NDArray[np.float64]:
    """P(arm i has the highest rate) under independent Beta(alpha_i, beta_i) posteriors.

    pi_i = integral of f_i(x) * prod_{j != i} F_j(x) dx, by the midpoint rule on ``grid``
    cells spanning every posterior's mass (mean +- 12 sd), each density normalised on the
    grid; pi sums to 1. Deterministic (no sampling error).

    >>> thompson_probabilities([1, 1], [1, 1]).round(6).tolist()
    [0.5, 0.5]
    >>> float(thompson_probabilities([30, 10], [70, 90])[0]) > 0.99
    True
    """
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    if a.size == 1:
        return np.ones(1)
    mean = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    lo = max(0.0, float(np.min(mean - 12 * sd)))
    hi = min(1.0, float(np.max(mean + 12 * sd)))
    x = lo + (np.arange(grid) + 0.5) * ((hi - lo) / grid)
    logpdf = (a[:, None] - 1) * np.log(x) + (b[:, None] - 1) * np.log1p(-x)
    mass = np.exp(logpdf - logpdf.max(axis=1, keepdims=True))
    mass /= mass.sum(axis=1, keepdims=True)
    cdf = np.cumsum(mass, axis=1) - 0.5 * mass  # midpoint: half of the own cell lies below
    log_cdf = np.log(np.maximum(cdf, 1e-300))
    others = log_cdf.sum(axis=0) - log_cdf  # log prod_{j != i} F_j, per arm and cell
    pi = (mass * np.exp(others)).sum(axis=1)
    total = float(pi.sum())
    if not total > 0:  # every posterior on one cell: they tie
        return np.full(a.size, 1.0 / a.size)
    out: npt.NDArray[np.float64] = pi / total
    return out


@dataclass(frozen=True)
class VariantChoice:
    """The phrasing shown, the probability it was chosen with, and every candidate's."""

    log_id: str
    variant_id: str
    action: str
    propensity: float
    probabilities: dict[str, float]


class VariantBandit:
    """Thompson sampling over the phrasings (``action`` = template id) of each copy type.

    Posteriors are Beta(prior + conversions, prior + non-converted exposures) per
    (copy type, action), pooled over products and offers. ``choose`` draws from
    p = (1 - floor) * pi_TS + floor / K over the K candidates (pi_TS from
    ``thompson_probabilities``), so the logged propensity is exactly the probability of the
    draw and never below floor / K. Every choice is written (committed) before it returns.
    """

    def __init__(
        self,
        path: Path,
        *,
        prior: tuple[float, float] = (1.0, 1.0),
        floor: float = 0.05,
        seed: int | None = None,
    ) -> None:
        if not (prior[0] > 0 and prior[1] > 0):
            raise ConfigError(f"Variant prior must be positive, got {prior}.")
        if not 0.0 <= floor < 1.0:
            raise ConfigError(f"Variant propensity floor must be in [0, 1), got {floor}.")
        self.path = path
        self.prior, self.floor = prior, floor
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        rows = self._db.execute("SELECT copy_type, action, exposures, conversions FROM "
                                "variant_posteriors").fetchall()  # fmt: skip
        self.counts: dict[tuple[str, str], list[float]] = {(t, a): [x, c] for t, a, x, c in rows}
        logged = self._db.execute("SELECT count(*) FROM variant_log").fetchone()[0]
        # Seeded by the log's length so a restarted node does not replay the same draws.
        self._rng = np.random.default_rng(None if seed is None else [seed, int(logged)])
        self._cache: dict[tuple[str, tuple[str, ...]], npt.NDArray[np.float64]] = {}

    def probabilities(self, copy_type: str, actions: Sequence[str]) -> npt.NDArray[np.float64]:
        """The choice probabilities p over ``actions`` (distinct) right now; they sum to 1."""
        key = (copy_type, tuple(actions))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        counts = [self.counts.get((copy_type, a), [0.0, 0.0]) for a in actions]
        alpha = [self.prior[0] + c for _x, c in counts]
        beta = [self.prior[1] + max(x - c, 0.0) for x, c in counts]
        p = (1 - self.floor) * thompson_probabilities(alpha, beta) + self.floor / len(actions)
        p /= p.sum()
        self._cache[key] = p
        return p

    def choose(
        self,
        copy_type: str,
        candidates: Sequence[tuple[str, str]],
        *,
        decision_id: str | None,
        offer: str | None,
        ts: float,
        pack_version: str = "",
    ) -> VariantChoice:
        """Pick one of ``candidates`` ((variant id, action) pairs, distinct actions), log it.

        A decision that already has a logged choice for this copy type gets the same
        phrasing again (a retried request is not a second exposure) if it is a candidate.
        """
        if not candidates:
            raise ConfigError("No copy variant to choose from.")
        actions = [a for _v, a in candidates]
        if len(set(actions)) != len(actions):
            raise ConfigError(f"Copy variant candidates repeat a phrasing: {actions}.")
        with self._lock:
            if decision_id is not None:
                again = self._logged(decision_id, copy_type, candidates)
                if again is not None:
                    return again
            p = self.probabilities(copy_type, actions)
            k = min(int(np.searchsorted(np.cumsum(p), self._rng.random(), side="right")),
                    len(actions) - 1)  # fmt: skip
            log_id = f"{decision_id or 'c-' + uuid.uuid4().hex}:{copy_type}"
            probs = {a: float(q) for a, q in zip(actions, p, strict=True)}
            choice = VariantChoice(log_id, candidates[k][0], actions[k], float(p[k]), probs)
            state = "pending" if decision_id is not None else "unlinked"
            self._db.execute(
                "INSERT INTO variant_log VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL,NULL)",
                (log_id, decision_id, ts, copy_type, offer, choice.action,
                 choice.variant_id, choice.propensity, json.dumps(probs), pack_version, state),
            )  # fmt: skip
        return choice

    def _logged(
        self, decision_id: str, copy_type: str, candidates: Sequence[tuple[str, str]]
    ) -> VariantChoice | None:
        row = self._db.execute(
            "SELECT id, action, propensity, probabilities FROM variant_log"
            " WHERE decision_id = ? AND copy_type = ?",
            (decision_id, copy_type),
        ).fetchone()
        if row is None:
            return None
        by_action = {a: v for v, a in candidates}
        if row[1] not in by_action:
            raise ConfigError(
                f"Decision {decision_id} already showed phrasing {row[1]} of {copy_type}, "
                "which this request cannot produce; compose it with the same sku and offer."
            )
        return VariantChoice(row[0], by_action[row[1]], row[1], row[2], json.loads(row[3]))

    def learn(
        self,
        outcomes: Mapping[str, tuple[float, float | None]],
        resolved_by: Mapping[str, bool],
        *,
        expired: Sequence[str] = (),
    ) -> int:
        """Fold outcomes in: ``outcomes`` maps a decision id to (reward, revenue) for a
        conversion; ``resolved_by`` marks decisions whose lookback ended without one;
        ``expired`` names decisions the edge no longer knows (logged, never learned).
        Posteriors and log rows change in one transaction. Returns the rows resolved."""
        gone = set(expired)
        with self._lock:
            rows = self._pending()
            updates: list[tuple[float | None, float | None, str, str]] = []
            delta: dict[tuple[str, str], list[float]] = {}
            for row_id, decision_id, copy_type, action in rows:
                if decision_id in outcomes:
                    reward, revenue = outcomes[decision_id]
                elif resolved_by.get(decision_id):
                    reward, revenue = 0.0, 0.0
                elif decision_id in gone:
                    updates.append((None, None, "expired", row_id))
                    continue
                else:
                    continue
                updates.append((reward, revenue, "resolved", row_id))
                d = delta.setdefault((copy_type, action), [0.0, 0.0])
                d[0] += 1.0
                d[1] += float(reward > 0)
            if not updates:
                return 0
            for key, (x, c) in delta.items():
                have = self.counts.setdefault(key, [0.0, 0.0])
                have[0] += x
                have[1] += c
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "UPDATE variant_log SET reward = ?, revenue = ?, state = ? WHERE id = ?",
                    updates,
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO variant_posteriors VALUES (?,?,?,?)",
                    [(t, a, *self.counts[(t, a)]) for t, a in delta],
                )
            self._cache.clear()
            return len(updates)

    def _pending(self) -> list[tuple[str, str, str, str]]:
        return self._db.execute(
            "SELECT id, decision_id, copy_type, action FROM variant_log WHERE state = 'pending'"
        ).fetchall()

    def pending_decisions(self, limit: int = _BATCH) -> list[tuple[str, float]]:
        """(decision id, compose ts) of the oldest choices still waiting for an outcome."""
        with self._lock:
            rows = self._db.execute(
                "SELECT decision_id, min(ts) FROM variant_log WHERE state = 'pending'"
                " GROUP BY decision_id ORDER BY min(ts) LIMIT ?",
                (limit,),
            ).fetchall()
        return [(str(d), float(t)) for d, t in rows]

    def stats(self) -> dict[str, Any]:
        """Posterior counts per copy type and action, and log rows per state."""
        with self._lock:
            states = dict(
                self._db.execute("SELECT state, count(*) FROM variant_log GROUP BY state")
            )
            counts = {f"{t}/{a}": tuple(v) for (t, a), v in sorted(self.counts.items())}
        return {"log": states, "posteriors": counts}

    def close(self) -> None:
        """Close the log's connection."""
        with self._lock:
            self._db.close()


def read_edge_outcomes(
    edge_db: Path,
    pending: Sequence[tuple[str, float]],
    lookback_s: Callable[[str], float],
    *,
    expire_s: float,
    now: float,
) -> tuple[dict[str, tuple[float, float | None]], dict[str, bool], list[str]]:
    """Outcomes of ``pending`` decisions from the edge's state (read-only).

    Reads ``decisions(id, ts, arm)``, ``conversions(decision_id, revenue)`` and the
    edge's watermark (latest decision or event time): a decision converted if it has a
    conversion row; it resolved without one once the watermark passed its time plus the
    lookback of its arm. A decision not found whose choice is older than ``expire_s``
    (wall clock ``now``) is expired (erased, pruned, or never a real decision).
    """
    if not pending or not edge_db.is_file():
        return {}, {}, []
    ids = [d for d, _ in pending]
    marks = ",".join("?" * len(ids))
    con = sqlite3.connect(f"{edge_db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        watermark = con.execute(
            "SELECT max(coalesce((SELECT max(ts) FROM decisions), 0),"
            " coalesce((SELECT max(ts) FROM events), 0))"
        ).fetchone()[0]
        rows = con.execute(
            f"SELECT d.id, d.ts, d.arm, c.revenue FROM decisions d LEFT JOIN conversions c"
            f" ON c.decision_id = d.id WHERE d.id IN ({marks})",
            ids,
        ).fetchall()
    finally:
        con.close()
    outcomes: dict[str, tuple[float, float | None]] = {}
    resolved: dict[str, bool] = {}
    for decision_id, ts, arm, revenue in rows:
        if revenue is not None:
            outcomes[decision_id] = (1.0, float(revenue))
            continue
        resolved[decision_id] = float(watermark or 0.0) > ts + lookback_s(arm)
    found = {r[0] for r in rows}
    expired = [d for d, t in pending if d not in found and now - t > expire_s]
    return outcomes, resolved, expired


def export_variant_log(
    state_dir: Path, out: Path, *, policy_out: Path | None = None, include_pending: bool = False
) -> int:
    """Write the resolved variant choices as CSV for ``edgemark measure ope``.

    Columns (``LOG_COLUMNS``): log_id, decision_id, ts, copy_type, offer, action (the
    phrasing, e.g. ``headline-2``), variant_id, propensity (probability the node chose
    ``action`` with), reward (1 converted, 0 not), revenue, pack_version. With
    ``policy_out``, also write the logging policy's probability of every action, one
    column per action and row for row (a target CSV that replays the logging policy).
    Returns the number of rows.
    """
    path = state_dir / VARIANTS_DB
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: this node has composed no copy yet.")
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        states = ("resolved", "pending") if include_pending else ("resolved",)
        rows = con.execute(
            "SELECT id, decision_id, ts, copy_type, offer, action, variant_id, propensity,"
            " reward, revenue, pack_version, probabilities FROM variant_log"
            f" WHERE state IN ({','.join('?' * len(states))}) ORDER BY ts, id",
            states,
        ).fetchall()
    finally:
        con.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LOG_COLUMNS)
        writer.writerows(r[:-1] for r in rows)
    if policy_out is not None:
        probs = [json.loads(r[-1]) for r in rows]
        actions = sorted({a for p in probs for a in p})
        with policy_out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(actions)
            writer.writerows([p.get(a, 0.0) for a in actions] for p in probs)
    return len(rows)


def node_seed(node_id: str, seed: int = 0) -> int:
    """A stable seed for a node's variant draws."""
    return int(zlib.crc32(f"{seed}:{node_id}".encode()))
