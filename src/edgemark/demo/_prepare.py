"""The hub-side preparation of the demo: history → ingest → training frame → models → bundles.

Everything here is what a retailer's data team would run before a rollout; it writes
into ``work_dir`` and returns the paths and figures the rest of the demo needs. v1 is
signed at once; v2 (and the rogue v3) are built mid-run by ``build_rollout_bundles``,
after the fleet's offer-priors round, so v2's policy can carry those priors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.bundle import build_bundle, generate_keypair, load_signing_key, pack_bundle
from edgemark.errors import MissingExtraError
from edgemark.events import EventLog, Pseudonymizer, ingest_file
from edgemark.features import DEFAULT_SPEC, build_training_frame
from edgemark.federated import auc
from edgemark.models import export_onnx, train_propensity
from edgemark.sim import RetailWorld, generate, generate_catalog, write_catalog, write_docs

DAY = 86400.0
FLEET_KEY = "fleet-2026"
ROGUE_KEY = "rogue"


@dataclass(frozen=True)
class Prepared:
    """What the preparation produced: bundle archives by version (v1 at first; v2 and v3
    once ``build_rollout_bundles`` ran), figures, trust dir, and what v2 is built from."""

    bundles: dict[str, bytes]
    model_metrics: dict[str, dict[str, Any]]
    ingest: dict[str, Any]
    trust_dir: Path
    policy: dict[str, Any]
    catalog: list[dict[str, Any]] = field(default_factory=list)  # products in v2's pack
    # Held-out rows of the hub's frame (label times after v1's training rows), where the
    # central model (v1) and the federated model are compared on the same rows.
    heldout_x: Any = None
    heldout_y: Any = None
    central_auc: float | None = None
    work_dir: Path = Path()
    offers: list[dict[str, Any]] = field(default_factory=list)  # as the bundles carry them
    pack_files: dict[str, Path] = field(default_factory=dict)  # v2's content pack
    # Share of v1's training rows (users x label times) that purchased within 7 days: the
    # hub's own figure for the federated model's starting bias.
    purchase_rate_7d: float = 0.3


def policy_for(holdout_share: float, epsilon: float, seed: int) -> dict[str, Any]:
    """The bundle policy of the demo's experiment (same experiment across versions)."""
    return {
        "experiment": "offers-demo",
        "salt": f"offers-demo-{seed}",
        "holdout_share": holdout_share,
        "lookback_hours": 24.0,
        "epsilon_per_report": epsilon,
        "max_contributions_per_user": 1,
        "revenue_cap": 250.0,
        "prior_alpha": 1.0,
        "prior_beta": 1.0,
    }


def prepare(
    world: RetailWorld, work_dir: Path, *, holdout_share: float, epsilon: float, seed: int
) -> Prepared:
    """Generate and ingest the history, train v1 and v2, sign v1."""
    export_dir = work_dir / "shop-export"
    gen = generate(world.config, export_dir)
    log = EventLog(work_dir / "event-log")
    hub_key = work_dir / "keys" / "pseudonym.key"
    hub_key.parent.mkdir(parents=True, exist_ok=True)
    pseudonymizer = Pseudonymizer.create_key_file(hub_key)
    result = ingest_file(gen.events_path, log, pseudonymizer, work_dir / "quarantine")
    ingest = {"read": result.read, "accepted": result.accepted, "quarantined": result.quarantined}

    start = world.config.start
    days = world.config.days
    label_times = [start + d * DAY for d in range(7, days - 7 + 1)]
    frame = build_training_frame(log.parquet_glob(), DEFAULT_SPEC, label_times, horizon_days=7)
    names = list(DEFAULT_SPEC.names)
    # v1 learns from the first two thirds of the history; v2 from all of it.
    cut = start + (7 + (days - 14) * 2 // 3) * DAY
    models = {
        "v1": train_propensity(frame[frame["label_time"] <= cut], names, seed=seed),
        "v2": train_propensity(frame, names, seed=seed),
    }
    keys_dir = work_dir / "keys"
    trust_dir = work_dir / "trust"
    trust_dir.mkdir(parents=True, exist_ok=True)
    generate_keypair(keys_dir, FLEET_KEY)
    generate_keypair(keys_dir, ROGUE_KEY)
    (trust_dir / f"{FLEET_KEY}.pub").write_bytes((keys_dir / f"{FLEET_KEY}.pub").read_bytes())

    for name, model in models.items():
        model_dir = work_dir / "models" / name
        model_dir.mkdir(parents=True, exist_ok=True)
        export_onnx(model, model_dir / "model.onnx")
    pack_files, catalog = _content_pack(work_dir / "content", seed)
    metrics = {name: dict(m.metrics_) for name, m in models.items()}
    rate_7d = float(frame[frame["label_time"] <= cut]["label"].mean())
    held = frame[frame["label_time"] > cut]
    x_held = held[names].to_numpy(np.float64)
    y_held = held["label"].to_numpy(np.float64)
    central = auc(y_held, models["v1"].predict(x_held))
    prepared = Prepared(
        bundles={},
        model_metrics=metrics,
        ingest=ingest,
        trust_dir=trust_dir,
        policy=policy_for(holdout_share, epsilon, seed),
        catalog=catalog,
        heldout_x=x_held,
        heldout_y=y_held,
        central_auc=central,
        work_dir=work_dir,
        offers=[o.to_dict() for o in world.offers],
        pack_files=pack_files,
        purchase_rate_7d=rate_7d,
    )
    prepared.bundles["v1"] = _bundle(prepared, "v1", "v1", FLEET_KEY, prepared.policy, {})
    return prepared


def build_rollout_bundles(
    prepared: Prepared, priors: dict[str, Any] | None = None
) -> dict[str, bytes]:
    """Sign v2 (the model trained on all the history, the content pack and, when given,
    the fleet's offer priors as ``policy["priors"]``) and the rogue v3 (the same, signed
    by a key the nodes do not trust); add both to ``prepared.bundles`` and return them."""
    policy = {**prepared.policy, **({"priors": priors} if priors else {})}
    for version, key_id in (("v2", FLEET_KEY), ("v3", ROGUE_KEY)):
        bundle = _bundle(prepared, version, "v2", key_id, policy, prepared.pack_files)
        prepared.bundles[version] = bundle
    return {v: prepared.bundles[v] for v in ("v2", "v3")}


def _bundle(
    prepared: Prepared,
    version: str,
    model_name: str,
    key_id: str,
    policy: dict[str, Any],
    extra_files: dict[str, Path],
) -> bytes:
    work_dir = prepared.work_dir
    bundle_dir = build_bundle(
        work_dir / "bundles" / version,
        name="propensity-offers",
        version=version,
        files={"model.onnx": work_dir / "models" / model_name / "model.onnx", **extra_files},
        feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        offers=prepared.offers,
        policy=policy,
        metrics=dict(prepared.model_metrics[model_name]),
        signing_key=load_signing_key(work_dir / "keys" / f"{key_id}.key"),
        key_id=key_id,
    )
    return pack_bundle(bundle_dir)


def _content_pack(root: Path, seed: int) -> tuple[dict[str, Path], list[dict[str, Any]]]:
    """v2's content pack from the simulator's catalog and FAQ, as bundle files; none (and
    an empty catalog) when the content extra or the MiniLM model package is missing."""
    try:
        from edgemark.content import build_pack, bundle_files
    except ImportError:
        return {}, []
    items = generate_catalog(seed)
    write_catalog(items, root / "catalog.jsonl")
    write_docs(root / "docs")
    try:
        build_pack(root / "catalog.jsonl", root / "docs", root / "pack")
    except MissingExtraError:
        return {}, []
    return bundle_files(root / "pack"), [item.to_dict() for item in items]
