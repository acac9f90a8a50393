"""The serving bundle's content pack on the node: opened beside the model before a swap,
and composing with it: the node's variant bandit picks the phrasing to show.

A bundle that lists ``content/*`` files carries a pack; the content plane is the
``content`` extra, so it is imported only here and only when a bundle carries one.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgemark._extras import require
from edgemark.bundle import Manifest
from edgemark.edge._variants import (
    VARIANTS_DB,
    VariantBandit,
    node_seed,
    read_edge_outcomes,
)
from edgemark.errors import BundleError, EdgeError, EdgemarkError

MAX_CANDIDATES = 8  # every phrasing of a copy type is a candidate (the request's limit is 8)

CONTENT_DIR = "content"


def has_pack(manifest: Manifest) -> bool:
    """Whether the bundle's manifest lists files under ``content/``."""
    return any(name.startswith(f"{CONTENT_DIR}/") for name in manifest.files)


def open_pack(path: Path, manifest: Manifest) -> Any | None:
    """A ``ContentEngine`` on ``<bundle>/content``, or None when the bundle has no pack.

    Raises ``BundleError`` (the serving bundle keeps serving) when the node lacks the
    ``content`` extra or the pack does not open.
    """
    if not has_pack(manifest):
        return None
    try:
        content = require("edgemark.content", "content")
        require("tokenizers", "content")
        return content.ContentEngine.open(path / CONTENT_DIR)
    except EdgemarkError as exc:
        raise BundleError(
            f"Bundle {manifest.version} carries a content pack that this node cannot open: {exc}"
        ) from exc


def compose_from(
    content: Any | None,
    version: str,
    request: Any,
    *,
    node: Any | None = None,
    lookback_s: Callable[[str], float] | None = None,
) -> Any:
    """Compose with the serving bundle's pack; ``EdgeError`` when the bundle has none.

    With ``node`` (the ``Runtime``), its variant bandit picks the phrasing to show and
    logs it (see ``NodeVariants``); ``lookback_s`` gives the lookback of a decision's arm.
    """
    if content is None:
        raise EdgeError(
            f"Bundle {version} carries no content pack; build one with "
            "'edgemark content pack build' and ship it as content/* bundle files."
        )
    if node is None:
        return content.compose(request)
    return node_variants(node).compose(content, request, lookback_s or (lambda _arm: 0.0))


class NodeVariants:
    """A node's variant bandit, fed by the outcomes of the decisions its copy was shown for.

    ``compose`` asks the pack for every phrasing, lets the bandit pick one, and returns it
    first (then the others, up to the request's ``n_variants``). At most every
    ``sync_every_s`` it first folds in the outcomes of pending choices from the node's
    state (``edge.db``); choices whose decision is unknown after ``expire_s`` expire.
    """

    def __init__(
        self,
        state_dir: Path,
        edge_db: Path,
        node_id: str,
        *,
        sync_every_s: float = 1.0,
        expire_s: float = 7 * 86400.0,
    ) -> None:
        self.bandit = VariantBandit(state_dir / VARIANTS_DB, seed=node_seed(node_id))
        self.edge_db = edge_db
        self.sync_every_s, self.expire_s = sync_every_s, expire_s
        self._synced = time.monotonic()
        self._lock = threading.Lock()

    def compose(self, content: Any, request: Any, lookback_s: Callable[[str], float]) -> Any:
        """Compose ``request`` and choose the variant to show (see the class)."""
        if time.monotonic() - self._synced >= self.sync_every_s:
            self.sync(lookback_s)
        copy = content.compose(replace(request, n_variants=MAX_CANDIDATES))
        candidates: dict[str, str] = {}
        for variant in copy.variants:  # one candidate per phrasing
            candidates.setdefault(variant.template, variant.id)
        choice = self.bandit.choose(
            request.copy_type,
            [(v, a) for a, v in candidates.items()],
            decision_id=request.decision_id,
            offer=request.offer_id,
            ts=time.time(),
            pack_version=copy.pack_version,
        )
        shown = [v for v in copy.variants if v.id == choice.variant_id]
        rest = [v for v in copy.variants if v.id != choice.variant_id]
        return replace(
            copy,
            variants=tuple((shown + rest)[: request.n_variants]),
            variant_id=choice.variant_id,
            propensity=choice.propensity,
            probabilities=choice.probabilities,
            log_id=choice.log_id,
        )

    def sync(self, lookback_s: Callable[[str], float]) -> int:
        """Learn the outcomes of pending choices now; returns the choices resolved."""
        with self._lock:
            self._synced = time.monotonic()
            pending = self.bandit.pending_decisions()
            outcomes, resolved, expired = read_edge_outcomes(
                self.edge_db, pending, lookback_s, expire_s=self.expire_s, now=time.time()
            )
            return self.bandit.learn(outcomes, resolved, expired=expired)


_NODES: weakref.WeakKeyDictionary[Any, NodeVariants] = weakref.WeakKeyDictionary()
_NODES_LOCK = threading.Lock()


def node_variants(node: Any) -> NodeVariants:
    """The variant bandit of a ``Runtime`` (opened on its first compose, closed with it)."""
    with _NODES_LOCK:
        variants = _NODES.get(node)
        if variants is None:
            variants = NodeVariants(node.state_dir, node.store.path, node.node_id)
            weakref.finalize(node, variants.bandit.close)
            _NODES[node] = variants
        return variants
