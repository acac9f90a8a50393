"""A small shop's data platform on disk, for the erasure and raw-id tests.

Three customers' raw export goes through ingestion (with bad rows into the quarantine), a
training frame, an online feature store and a stopped edge node's state.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from edgemark.events import Event, EventLog, Pseudonymizer, ingest_file
from edgemark.features import DEFAULT_SPEC, FeatureStore, OnlineFeatures, build_training_frame

DAY = 86400.0
T0 = 1767571200.0
CUSTOMERS = ("cust-000001", "cust-000002", "cust-000003")
COLUMNS = ["event_id", "ts", "user", "type", "node", "category", "amount",
           "consent_personalization", "consent_measurement", "consent_training"]  # fmt: skip


@dataclass(frozen=True)
class Platform:
    """Paths of everything the platform wrote, and the keys."""

    root: Path
    log: EventLog
    key_file: Path
    frame: Path
    store: Path
    node: Path

    def pseudonym(self, raw: str) -> str:
        """The log's pseudonym of a raw id."""
        return Pseudonymizer.from_key_file(self.key_file).pseudonym(raw)

    def node_pseudonym(self, raw: str) -> str:
        """The edge node's pseudonym of a raw id (its own key)."""
        return Pseudonymizer.from_key_file(self.node / "node.key").pseudonym(raw)

    def written_files(self) -> list[Path]:
        """Every file the platform wrote (not the shop's own export)."""
        return [p for p in self.root.rglob("*") if p.is_file() and p.parent != self.root / "export"]


def _rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for c, user in enumerate(CUSTOMERS):
        for d in range(0, 40, 3):
            ts = T0 + d * DAY + c * 600
            rows.append([f"{user}-v{d}", ts, user, "view", "s1", "home", "", 1, 1, 1])
            if d % 6 == 0:
                rows.append([f"{user}-p{d}", ts + 60, user, "purchase", "s1", "home", 20 + c,
                             1, 1, 1])  # fmt: skip
        rows.append([f"{user}-bad", T0, user, "like", "s1", "", "", 1, 1, 1])  # quarantined
        rows.append([f"{user}-neg", T0, user, "purchase", "s1", "", "-1", 1, 1, 1])
    return sorted(rows, key=lambda r: float(r[1]))  # type: ignore[arg-type]


def build_platform(root: Path) -> Platform:
    """Write the export, ingest it, and build every derived file."""
    (root / "export").mkdir(parents=True)
    export = root / "export" / "shop.csv"
    with export.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(_rows())
    key_file = root / "keys" / "pseudonym.key"
    pseudonymizer = Pseudonymizer.create_key_file(key_file)
    log = EventLog(root / "log")
    result = ingest_file(export, log, pseudonymizer, root / "log" / "quarantine", now=T0 + 90 * DAY)
    assert result.quarantined == 2 * len(CUSTOMERS)
    frame_path = root / "frames" / "frame.parquet"
    frame_path.parent.mkdir()
    build_training_frame(log, DEFAULT_SPEC, [T0 + 14 * DAY, T0 + 21 * DAY]).to_parquet(frame_path)
    online = OnlineFeatures(DEFAULT_SPEC)
    for event in log.events():
        online.update_event(event)
    store_path = root / "features" / "features.db"
    with FeatureStore(store_path, DEFAULT_SPEC) as store:
        store.save(online)
    node = root / "node"
    _edge_state(node)
    return Platform(root, log, key_file, frame_path, store_path, node)


def _edge_state(node: Path) -> None:
    """A node that observed the customers' visits (then stopped)."""
    from edgemark.edge import Runtime

    runtime = Runtime(node, "store-1", trust=None, maintenance_interval_s=None)
    try:
        for c, user in enumerate(CUSTOMERS):
            for d in range(3):
                runtime.observe(Event(f"n-{user}-{d}", T0 + d * DAY + c, user, "view", "store-1",
                                      consent_personalization=True, consent_measurement=True,
                                      consent_training=True))  # fmt: skip
        runtime.flush()
    finally:
        runtime.close()
