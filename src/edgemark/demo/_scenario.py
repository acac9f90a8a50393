"""The demo's main loop: a hub and edge-node processes, simulated days, three rollouts.

Simulated customers visit their stores; each store's point of sale asks its edge node
for a decision over the node's local HTTP API, the customer responds as the simulator's
truth says, and the outcome is fed back. Between days the nodes sync with the hub, which
rolls v1 out to everyone, v2 in canary waves, and a v3 signed by an untrusted key that
the nodes refuse and the hub rolls back.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

from edgemark.demo._copy import compose_copy
from edgemark.demo._federated import FederatedRounds
from edgemark.demo._node_client import LocalNodeClient
from edgemark.demo._offer_priors import OfferPriorsRound
from edgemark.demo._prepare import DAY, Prepared, build_rollout_bundles, prepare
from edgemark.demo._processes import ManagedProcess, start_edgemark, wait_healthy
from edgemark.demo._settings import DemoSettings
from edgemark.demo._wire import WireTap
from edgemark.errors import ConfigError
from edgemark.hub import AdminClient, fetch_privacy_ledger
from edgemark.sim import RetailWorld, SimConfig, Visit

Progress = Callable[[str, int, int], None]

# The demo's stores serve different customers on purpose (non-IID), so a canary store's
# treatment-vs-holdout conversion differs from the rest of the fleet's by several points
# whatever the bundle, and the gate is evaluated at every heartbeat. A wider conversion
# margin and a stricter z keep the gate for real regressions without false alarms from
# store mix; the error-rate, latency and drift gates keep their defaults.
DEMO_GATES = {"max_conversion_drop": 0.1, "z": 2.5}


@dataclass
class DemoRun:
    """Everything the demo observed, for the summary and the report."""

    settings: DemoSettings
    prepared: Prepared
    truth: dict[str, Any]
    revenue_truth: dict[str, Any] = field(default_factory=dict)  # per visit, clipped at the cap
    decisions: list[dict[str, Any]] = field(default_factory=list)
    versions_by_day: dict[str, list[str | None]] = field(default_factory=dict)
    rollout_days: dict[str, int] = field(default_factory=dict)
    rollouts: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    rejected_events: int = 0
    wall_time_s: float = 0.0
    content: dict[str, Any] = field(default_factory=dict)
    federated: dict[str, Any] = field(default_factory=dict)
    offer_priors: dict[str, Any] = field(default_factory=dict)
    privacy_ledger: dict[str, Any] = field(default_factory=dict)
    wire_log: Path | None = None
    watermarks: dict[str, float] = field(default_factory=dict)  # latest record per node


class _Terminated(KeyboardInterrupt):
    """SIGTERM reached the demo; unwound like Ctrl-C so every child is stopped."""


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(settings: DemoSettings, progress: Progress | None = None) -> DemoRun:
    """Run the whole loop and return what it observed; every child is stopped on exit."""
    report: Progress = progress or (lambda stage, done, total: None)
    began = time.perf_counter()
    work = _fresh_work_dir(settings.out_dir / "work")
    world = RetailWorld(
        SimConfig(
            customers=settings.customers,
            nodes=settings.nodes,
            days=settings.history_days,
            seed=settings.seed,
        )
    )
    report("Training models, signing bundle v1", 0, 1)
    prepared = prepare(
        world,
        work,
        holdout_share=settings.holdout_share,
        epsilon=settings.epsilon_per_report,
        seed=settings.seed,
    )
    report("Training models, signing bundle v1", 1, 1)
    run = DemoRun(
        settings=settings,
        prepared=prepared,
        truth=world.truth(),
        revenue_truth=world.revenue_truth(float(prepared.policy["revenue_cap"])),
    )
    children: list[ManagedProcess] = []
    clients: list[LocalNodeClient] = []
    admin: AdminClient | None = None
    tap: WireTap | None = None
    try:
        with _sigterm_unwinds():
            admin, token = _start_hub(settings, work, children)
            node_hub = admin.base_url
            if settings.capture_wire:
                run.wire_log = work / "wire" / "requests.jsonl"
                tap = WireTap(admin.base_url, run.wire_log).start()
                node_hub = tap.url
            clients = _start_nodes(
                settings, work, world, admin, prepared, children, report, node_hub
            )
            fl = _federated_rounds(settings, admin.base_url, token, prepared)
            priors = _offer_priors_round(settings, world, admin.base_url, token, prepared)
            _drive(settings, world, admin, clients, run, report, fl, priors)
            if priors is not None:
                run.offer_priors = priors.summary(run.decisions)
            run.rollouts = admin.rollouts()["rollouts"]
            run.nodes = admin.nodes()["nodes"]
            run.reports = admin.reports()["reports"]
            run.content = compose_copy(
                world, clients, run.reports, run.decisions, prepared.catalog, settings.seed
            )
            if fl is not None:
                run.federated = fl.summary(prepared.central_auc or float("nan"))
            run.privacy_ledger = fetch_privacy_ledger(admin.base_url, token)
    finally:
        if admin is not None:
            admin.close()
        if tap is not None:
            tap.stop()
        for client in clients:
            client.close()
        for child in reversed(children):
            child.stop()
    run.wall_time_s = time.perf_counter() - began
    return run


_MARKER = ".edgemark-demo-work"


def _fresh_work_dir(work: Path) -> Path:
    """An empty scratch directory; a previous demo's is replaced, anything else refused."""
    if work.exists():
        if not (work / _MARKER).exists():
            raise ConfigError(
                f"{work} exists and was not made by the demo; choose another --out "
                "directory or move it away."
            )
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / _MARKER).write_text("scratch space of `edgemark demo`; replaced on every run\n")
    return work


def _federated_rounds(
    settings: DemoSettings, hub_url: str, token: str, prepared: Prepared
) -> FederatedRounds | None:
    if settings.federated_rounds == 0 or prepared.heldout_x is None:
        return None
    return FederatedRounds(hub_url, token, settings.nodes, settings.federated_rounds,
                           settings.federated_epsilon, prepared.heldout_x,
                           prepared.heldout_y, prepared.purchase_rate_7d)  # fmt: skip


def _offer_priors_round(
    settings: DemoSettings, world: RetailWorld, hub_url: str, token: str, prepared: Prepared
) -> OfferPriorsRound | None:
    if settings.offer_priors_epsilon == 0:
        return None
    policy = prepared.policy
    return OfferPriorsRound(
        hub_url, token, list(world.nodes), ["none", *(o.id for o in world.offers)],
        str(policy["experiment"]), settings.offer_priors_epsilon,
        float(policy["lookback_hours"]) * 3600.0,
        base_variance=0.5 * float(policy.get("prior_variance", 1.0)),  # the edge's default
    )  # fmt: skip


def _start_hub(
    settings: DemoSettings, work: Path, children: list[ManagedProcess]
) -> tuple[AdminClient, str]:
    token = secrets.token_urlsafe(24)
    hub = start_edgemark(
        "hub",
        [
            "hub",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--port-file",
            str(work / "hub.port"),
            "--db",
            f"sqlite:///{(work / 'hub.db').resolve()}",
            "--bundles",
            str(work / "hub-bundles"),
        ],
        port_file=work / "hub.port",
        log_dir=work / "logs",
        env={**settings.extra_env, "EDGEMARK_ADMIN_TOKEN": token},
    )
    children.append(hub)
    url = f"http://127.0.0.1:{hub.wait_for_port(settings.process_timeout_s)}"
    wait_healthy(f"{url}/healthz", settings.process_timeout_s)
    return AdminClient(url, token), token


def _start_nodes(
    settings: DemoSettings,
    work: Path,
    world: RetailWorld,
    admin: AdminClient,
    prepared: Prepared,
    children: list[ManagedProcess],
    report: Progress,
    hub_url: str,
) -> list[LocalNodeClient]:
    admin.upload_bundle(prepared.bundles["v1"])  # v2 and v3 follow the offer-priors round
    started: list[ManagedProcess] = []
    for index, node in enumerate(world.nodes):
        report("Enrolling and starting edge nodes", index, len(world.nodes))
        enrolment = admin.create_enrolment_token(node)["enrolment_token"]
        node_token = admin.enrol(enrolment, node)["node_token"]
        state = work / "nodes" / node
        child = start_edgemark(
            node,
            [
                "edge",
                "run",
                "--hub",
                hub_url,
                "--state",
                str(state),
                "--trust",
                str(prepared.trust_dir),
                "--node-id",
                node,
                "--listen-port",
                "0",
                # The demo syncs nodes at day boundaries itself, so background polls wait.
                "--poll-seconds",
                "3600",
            ],
            port_file=state / "api.port",
            log_dir=work / "logs",
            env={
                **settings.extra_env,
                "EDGEMARK_NODE_TOKEN": node_token,
                "EDGEMARK_FEDERATED": "1"
                if settings.federated_rounds or settings.offer_priors_epsilon
                else "0",
            },
        )
        children.append(child)
        started.append(child)
    clients = [
        LocalNodeClient(child.name, child.wait_for_port(settings.process_timeout_s))
        for child in started
    ]
    report("Enrolling and starting edge nodes", len(world.nodes), len(world.nodes))
    return clients


def _drive(
    settings: DemoSettings,
    world: RetailWorld,
    admin: AdminClient,
    clients: list[LocalNodeClient],
    run: DemoRun,
    report: Progress,
    fl: FederatedRounds | None = None,
    priors: OfferPriorsRound | None = None,
) -> None:
    admin.create_rollout("v1", [100], soak_heartbeats=1)
    run.rollout_days["v1"] = -1
    _sync_all(clients)
    rng = np.random.default_rng([settings.seed, 2026])
    first_day = settings.history_days
    for name in world.nodes:
        run.versions_by_day[name] = []
    for offset in range(settings.days):
        report("Simulating days at the edge", offset, settings.days)
        day = first_day + offset
        if offset == settings.v2_day:
            _build_v2(run, admin, clients, priors)
            admin.create_rollout("v2", list(settings.waves), soak_heartbeats=2, gates=DEMO_GATES)
            run.rollout_days["v2"] = offset
        if offset >= settings.v3_day and "v3" not in run.rollout_days and not _in_progress(admin):
            admin.create_rollout("v3", list(settings.waves), soak_heartbeats=2, gates=DEMO_GATES)
            run.rollout_days["v3"] = offset
        # A federated round rides on the day's sync: nodes answer the open task from their
        # own consented events as they sync, and the round is closed after.
        opened = fl is not None and offset >= settings.federated_from_day and fl.open()
        _sync_all(clients)
        if opened and fl is not None:
            fl.close()
        _simulate_day(world, day, clients, rng, run)
        day_index = int((world.config.start + (day + 1) * DAY) // DAY)
        for client in clients:
            client.close_days(day_index)
    report("Simulating days at the edge", settings.days, settings.days)
    _sync_all(clients)


def _build_v2(
    run: DemoRun,
    admin: AdminClient,
    clients: list[LocalNodeClient],
    priors: OfferPriorsRound | None,
) -> None:
    """The offer-priors round rides on its own sync (nodes answer from their randomised,
    consented traffic so far); then v2 and v3 are signed with the priors and uploaded."""
    policy_priors = None
    if priors is not None:
        priors.open(run.watermarks, admin.reports()["reports"])
        _sync_all(clients)
        policy_priors = priors.close()
    for bundle in build_rollout_bundles(run.prepared, policy_priors).values():
        admin.upload_bundle(bundle)


def _in_progress(admin: AdminClient) -> bool:
    return any(r["state"] == "in_progress" for r in admin.rollouts()["rollouts"])


def _sync_all(clients: list[LocalNodeClient]) -> None:
    for client in clients:
        client.sync()


def _simulate_day(
    world: RetailWorld,
    day: int,
    clients: list[LocalNodeClient],
    rng: np.random.Generator,
    run: DemoRun,
) -> None:
    by_node: dict[str, list[Visit]] = defaultdict(list)
    for visit in world.visits(day):
        by_node[visit.node].append(visit)
    for client in clients:
        visits = by_node.get(client.name, [])
        requests = []
        for visit in visits:
            personalization, measurement, _ = world.consents(visit.customer_index)
            requests.append(
                {
                    "user": visit.customer_id,
                    "ts": visit.ts,
                    "consent_personalization": personalization,
                    "consent_measurement": measurement,
                }
            )
        decisions = client.decide(requests) if requests else []
        events: list[dict[str, Any]] = []
        for visit, request, decision in zip(visits, requests, decisions, strict=True):
            shopped = world.shop(visit, decision["offer"], rng)
            events.extend(e.to_dict() for e in shopped)
            bought = int(any(e.type == "purchase" for e in shopped))  # the outcome, for OPE
            training = world.consents(visit.customer_index)[2]  # known to the simulator only
            run.decisions.append({**decision, "node": client.name, "day": day, "bought": bought,
                                  "ts": request["ts"], "training": training})  # fmt: skip
        if events or visits:  # the node's latest record: its last decision or event
            latest = max([float(e["ts"]) for e in events] + [float(v.ts) for v in visits])
            run.watermarks[client.name] = max(run.watermarks.get(client.name, 0.0), latest)
        if events:
            run.rejected_events += len(client.observe(events)["rejected"])
        active = client.status().get("active_version")
        run.versions_by_day[client.name].append(active)
