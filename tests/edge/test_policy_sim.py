"""Promo suppression on simulator truth: over the same simulated visits (common random
numbers), the contextual policy earns more incremental margin than propensity targeting
and than uniformly random offers. Incremental margin = realised margin minus the margin of
the same visits without any offer."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgemark.bundle import TrustStore, build_bundle, generate_keypair, load_signing_key
from edgemark.edge import DecisionRequest, Runtime
from edgemark.events import Event
from edgemark.features import DEFAULT_SPEC, OnlineFeatures
from edgemark.sim import RetailWorld, SimConfig

pytestmark = pytest.mark.slow
SEED, CUSTOMERS, HISTORY, DAYS, MARGIN = 5, 2000, 21, 21, 0.3
KEY = b"s" * 32


def _propensity_model(events: list[Event], out: Path) -> tuple[Path, float]:
    """LightGBM P(purchase in this visit | features at the visit), on no-offer history visits."""
    models = pytest.importorskip("edgemark.models")
    pd = pytest.importorskip("pandas")
    online = OnlineFeatures(DEFAULT_SPEC)
    visits: dict[str, list[Event]] = {}
    for event in events:
        visits.setdefault(event.event_id.rsplit("-", 1)[0], []).append(event)
    rows, labels, users, times = [], [], [], []
    for evs in visits.values():
        first = evs[0]
        if first.type != "exposure" and first.consent_personalization:
            rows.append(online.vector(first.user, first.ts))
            labels.append(int(any(e.type == "purchase" for e in evs)))
            users.append(first.user)
            times.append(first.ts)
        for e in evs:
            if e.consent_personalization:
                online.update(e.user, e.type, e.ts, e.amount)
    names = list(DEFAULT_SPEC.names)
    frame = pd.DataFrame(np.array(rows), columns=names)
    frame.insert(0, "user", users)
    frame.insert(1, "label_time", times)
    frame["label"] = labels
    model = models.train_propensity(frame, names, seed=0, params={"num_iterations": 60})
    path: Path = models.export_onnx(model, out / "model.onnx")
    median = float(np.median(models.OnnxScorer(path).score(frame[names].to_numpy())))
    return path, median


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("policy-sim")
    world = RetailWorld(SimConfig(customers=CUSTOMERS, nodes=1, days=HISTORY, seed=SEED))
    events = world.history(HISTORY)
    model, median = _propensity_model(events, root)
    generate_keypair(root / "keys", "k")
    trust = TrustStore.from_directory(root / "keys")
    warm = Runtime(root / "warm", "store-1", trust=trust, key=KEY, maintenance_interval_s=None)
    warm.observe_many(events)  # the same customer history for every policy
    warm.close()
    return {"root": root, "world": world, "model": model, "median": median, "trust": trust}


def _run(setting: dict[str, Any], name: str, **policy: Any) -> float:
    root, world = setting["root"], setting["world"]
    bundle = build_bundle(
        root / "bundles" / name,
        name="p",
        version=name,
        files={"model.onnx": setting["model"]},
        feature_spec_hash=DEFAULT_SPEC.spec_hash(),
        offers=[o.to_dict() for o in world.offers],
        policy={
            "experiment": "sim", "salt": "s", "holdout_share": 0.0, "explore_share": 0.0,
            "lookback_hours": 12.0, "epsilon_per_report": 1.0, "max_contributions_per_user": 1,
            "revenue_cap": 500.0, "prior_alpha": 1.0, "prior_beta": 1.0, "margin_rate": MARGIN,
            **policy,
        },
        metrics={},
        signing_key=load_signing_key(root / "keys" / "k.key"),
        key_id="k",
    )  # fmt: skip
    shutil.copytree(root / "warm", root / name)
    runtime = Runtime(root / name, "store-1", trust=setting["trust"], key=KEY,
                      maintenance_interval_s=None, seed=1)  # fmt: skip
    runtime.load(bundle)
    offers = {o.id: o for o in world.offers}
    margin = 0.0
    for day in range(HISTORY, HISTORY + DAYS):
        outcomes: list[Event] = []
        for visit in world.visits(day):
            personalization, measurement, _ = world.consents(visit.customer_index)
            request = DecisionRequest(visit.customer_id, visit.ts, personalization, measurement)
            offer = runtime.decide(request).offer
            shop = world.shop(visit, offer, np.random.default_rng([SEED, day, visit.seq]))
            for event in shop:
                if event.type == "purchase":
                    terms = offers[offer] if offer else None
                    discount, cost = (terms.discount, terms.cost) if terms else (0.0, 0.0)
                    gross = float(event.amount or 0.0) / (1 - discount)
                    margin += gross * (MARGIN - discount) - cost
            outcomes.extend(shop)
        runtime.observe_many(outcomes)
    runtime.close()
    return margin


def test_contextual_policy_earns_more_incremental_margin(setting: dict[str, Any]) -> None:
    no_offer = _run(setting, "none", policy="uniform",
                    guardrails={"offers": {"*": {"daily_budget": 0}}})  # fmt: skip
    uniform = _run(setting, "uniform", policy="uniform") - no_offer
    propensity = _run(setting, "propensity", policy="propensity",
                      propensity_threshold=setting["median"]) - no_offer  # fmt: skip
    contextual = _run(setting, "contextual", policy="contextual") - no_offer
    visits = sum(len(setting["world"].visits(d)) for d in range(HISTORY, HISTORY + DAYS))
    # Per visit, in currency units; baselines give discounts to buyers who would buy anyway.
    totals = {"uniform": uniform, "propensity": propensity, "contextual": contextual}
    per_visit = {k: v / visits for k, v in totals.items()}
    assert per_visit["contextual"] > per_visit["propensity"] + 0.3, per_visit
    assert per_visit["contextual"] > per_visit["uniform"] + 0.3, per_visit
