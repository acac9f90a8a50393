"""Pseudonymisation end to end: no file the platform writes holds a raw customer id.

The shop's export goes through ingestion (bad rows quarantined), a training frame and its
CLI figures, an online feature store, and an edge node that loads a signed bundle, decides,
observes outcomes and writes its DP reports; then every written file is scanned.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgemark.events import Event
from edgemark.features import DEFAULT_SPEC
from tests.privacy.platform import CUSTOMERS, DAY, T0, build_platform

models = pytest.importorskip("edgemark.models")


def _bundle(root: Path) -> tuple[Path, Path]:
    """A signed bundle over DEFAULT_SPEC (synthetic training data) and its trust dir."""
    import pandas as pd

    from edgemark.bundle import build_bundle, generate_keypair, load_signing_key

    rng = np.random.default_rng(0)
    names = list(DEFAULT_SPEC.names)
    x = rng.gamma(1.0, 2.0, size=(1000, len(names)))
    frame = pd.DataFrame(x, columns=names)
    frame.insert(0, "user", [f"u{i}" for i in range(1000)])
    frame.insert(1, "label_time", T0 + np.arange(1000) * 60.0)
    frame["label"] = (rng.random(1000) < 1 / (1 + np.exp(2.0 - 0.5 * x[:, 3]))).astype(int)
    model = models.train_propensity(frame, names, seed=0, params={"num_iterations": 10})
    onnx = models.export_onnx(model, root / "model.onnx")
    generate_keypair(root / "keys", "k1")
    trust = root / "trust"
    trust.mkdir()
    (trust / "k1.pub").write_bytes((root / "keys" / "k1.pub").read_bytes())
    bundle = build_bundle(
        root / "bundle", name="p", version="v1", files={"model.onnx": onnx},
        feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        offers=[{"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 1.0}],
        policy={"experiment": "e", "salt": "s", "holdout_share": 0.2, "lookback_hours": 24.0,
                "epsilon_per_report": 1.0, "max_contributions_per_user": 1,
                "revenue_cap": 100.0, "prior_alpha": 1.0, "prior_beta": 1.0},
        metrics={}, signing_key=load_signing_key(root / "keys" / "k1.key"), key_id="k1",
    )  # fmt: skip
    return bundle, trust


def _serve(node: Path, bundle: Path, trust: Path) -> list[dict[str, object]]:
    from edgemark.bundle import TrustStore
    from edgemark.edge import DecisionRequest, Runtime

    runtime = Runtime(node, "store-1", trust=TrustStore.from_directory(trust),
                      maintenance_interval_s=None)  # fmt: skip
    try:
        runtime.load(bundle)
        for day in range(5, 8):
            for c, user in enumerate(CUSTOMERS):
                ts = T0 + day * DAY + c * 60
                runtime.decide(DecisionRequest(user, ts))
                runtime.observe(Event(f"buy-{user}-{day}", ts + 30, user, "purchase", "store-1",
                                      amount=12.0, consent_personalization=True,
                                      consent_measurement=True, consent_training=True))  # fmt: skip
        return runtime.reports(int(T0 // DAY) + 9)
    finally:
        runtime.close()


def test_no_written_file_holds_a_raw_customer_id(tmp_path: Path) -> None:
    from edgemark.cli import app

    platform = build_platform(tmp_path / "shop")
    figures = CliRunner().invoke(app, ["features", "frame", "--log", str(platform.log.root),
                                       "--out", str(platform.root / "frames" / "cli.parquet"),
                                       "--json"])  # fmt: skip
    assert figures.exit_code == 0, figures.output
    (platform.root / "reports").mkdir()
    (platform.root / "reports" / "frame.json").write_text(figures.output)
    bundle, trust = _bundle(platform.root / "hub")
    rows = _serve(platform.node, bundle, trust)
    (platform.root / "reports" / "dp-reports.json").write_text(json.dumps(rows))

    written = platform.written_files()

    kinds = {p.suffix for p in written}
    assert {".parquet", ".jsonl", ".db", ".json"} <= kinds and len(written) > 10
    assert rows, "the node released no report rows"
    leaks = [p for p in written if b"cust-" in p.read_bytes()]
    assert leaks == []
    assert any(platform.pseudonym(CUSTOMERS[0]).encode() in p.read_bytes() for p in written)
