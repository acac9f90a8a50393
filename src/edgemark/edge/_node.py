"""One edge node process: runtime (+ sync agent thread) + local API, until told to stop.

``run_node`` is what ``edgemark edge run`` calls (with a hub), ``serve_node`` what
``edgemark edge serve`` calls (standalone, from a bundle directory or the last good
bundle); both own start-up order and clean shutdown (API closed, agent stopped, state
flushed to SQLite).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from edgemark.bundle import BundleStore, TrustStore
from edgemark.edge._agent import SyncAgent
from edgemark.edge._api import EdgeAPI, serve_api
from edgemark.edge._hub_client import NodeHubClient
from edgemark.edge._runtime import Runtime
from edgemark.errors import ConfigError
from edgemark.features import DEFAULT_SPEC, FeatureSpec
from edgemark.privacy import PrivacyBudget


def run_node(
    *,
    hub_url: str,
    node_token: str,
    state_dir: str | os.PathLike[str],
    trust_dir: str | os.PathLike[str],
    node_id: str,
    stop: threading.Event,
    listen_port: int = 0,
    poll_seconds: float = 5.0,
    on_ready: Callable[[EdgeAPI], None] | None = None,
    spec: FeatureSpec = DEFAULT_SPEC,
) -> None:
    """Serve this node until ``stop`` is set; ``on_ready(api)`` runs once it listens.

    ``spec`` is the feature spec the node computes (the library in the store's time zone,
    say); it serves only bundles built for it."""
    if not node_token:
        raise ConfigError("No node token; pass --token or set EDGEMARK_NODE_TOKEN.")
    if not Path(trust_dir).is_dir():
        raise ConfigError(f"Trust directory {trust_dir} does not exist; it must hold *.pub keys.")
    trust = TrustStore.from_directory(trust_dir)
    runtime = Runtime(state_dir, node_id, trust=trust, spec=spec)
    client = NodeHubClient(hub_url, node_token)
    agent = SyncAgent(runtime, client, BundleStore(Path(state_dir) / "bundles"))
    api = serve_api(runtime, agent, port=listen_port)
    syncer = threading.Thread(
        target=agent.run_forever, args=(poll_seconds, stop), name="edge-sync", daemon=True
    )
    syncer.start()
    try:
        if on_ready is not None:
            on_ready(api)
        while not stop.wait(0.5):
            pass
    finally:
        stop.set()
        api.stop()
        syncer.join(timeout=30)
        runtime.close()
        client.close()


def serve_node(
    *,
    state_dir: str | os.PathLike[str],
    trust_dir: str | os.PathLike[str],
    node_id: str,
    stop: threading.Event,
    bundle_dir: str | os.PathLike[str] | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    durability: str = "process",
    privacy_budget: PrivacyBudget | None = None,
    on_ready: Callable[[EdgeAPI], None] | None = None,
    spec: FeatureSpec = DEFAULT_SPEC,
) -> None:
    """Serve the local API without a hub until ``stop`` is set (``spec``: as ``run_node``).

    Loads ``bundle_dir`` if given, else the last bundle that served; without either the API
    still starts and answers decisions with 503 until a bundle is loaded.
    """
    if not Path(trust_dir).is_dir():
        raise ConfigError(f"Trust directory {trust_dir} does not exist; it must hold *.pub keys.")
    trust = TrustStore.from_directory(trust_dir)
    runtime = Runtime(
        state_dir,
        node_id,
        trust=trust,
        durability=durability,
        privacy_budget=privacy_budget,
        spec=spec,
    )
    try:
        if bundle_dir is not None:
            runtime.load(bundle_dir)
        else:
            runtime.reload_last()
        api = serve_api(runtime, port=port, host=host)
    except BaseException:
        runtime.close()
        raise
    try:
        if on_ready is not None:
            on_ready(api)
        while not stop.wait(0.5):
            pass
    finally:
        api.stop()
        runtime.close()
