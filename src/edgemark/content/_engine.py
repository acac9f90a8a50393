"""The content engine an edge node runs: open a pack, retrieve, compose variants with a
backend (built-in by default), guard every output, fall back to a safe default, count why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgemark.content._backends import CopyBackend
from edgemark.content._compose import COPY_TYPES, CopyBrief, Draft, TemplateComposer
from edgemark.content._embedder import Embedder
from edgemark.content._guardrails import SURFACE_LIMITS, check
from edgemark.content._index import Filters, Hit, Passage, PassageIndex
from edgemark.content._pack import PACK_FILE, PACK_FORMAT
from edgemark.errors import ConfigError, EdgeError

_log = logging.getLogger("edgemark.content")

SAFE_DEFAULTS: dict[str, str] = {
    "headline": "Fresh picks in store today",
    "offer_blurb": "Ask our team about today's offers.",
    "product_answer": "Our team in store will be happy to help with that.",
    "subject_line": "Something new for you",
}


@dataclass(frozen=True)
class ComposeRequest:
    """What to write: copy type, what about (``sku`` or a ``query``), the offer the decision
    chose (id and display name), surface, filters, variants wanted, seed, and the customer's
    names (only to keep them out of the copy; never stored)."""

    copy_type: str = "headline"
    query: str = ""
    sku: str | None = None
    offer_id: str | None = None
    offer_name: str = ""
    surface: str = "screen"
    locale: str | None = None
    category: str | None = None
    in_stock: bool | None = True
    n_variants: int = 3
    seed: int = 0
    customer_names: tuple[str, ...] = ()
    escalate: bool = False  # use the configured external backend instead of the built-in one
    decision_id: str | None = None  # the decision the copy is shown for (variant learning)

    def __post_init__(self) -> None:
        if self.copy_type not in COPY_TYPES:
            raise ConfigError(
                f"copy_type {self.copy_type!r} is unknown; use one of {', '.join(COPY_TYPES)}."
            )
        if not self.sku and not self.query.strip():
            raise ConfigError("A compose request needs a sku or a query.")
        if not 1 <= self.n_variants <= 8:
            raise ConfigError(f"n_variants must be 1-8, got {self.n_variants}.")


_REQUEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "copy_type": str,
    "query": str,
    "sku": (str, type(None)),
    "offer_id": (str, type(None)),
    "offer_name": str,
    "surface": str,
    "locale": (str, type(None)),
    "category": (str, type(None)),
    "in_stock": (bool, type(None)),
    "n_variants": int,
    "seed": int,
    "customer_names": list,
    "escalate": bool,
    "decision_id": (str, type(None)),
}


def compose_request_from_dict(data: Any) -> ComposeRequest:
    """A request from parsed JSON (the local API's body); ``ConfigError`` names a bad field.

    >>> compose_request_from_dict({"copy_type": "headline", "sku": "sku-home-003"}).sku
    'sku-home-003'
    """
    if not isinstance(data, dict):
        raise ConfigError("A compose request must be a JSON object.")
    unknown = sorted(set(data) - set(_REQUEST_TYPES))
    if unknown:
        raise ConfigError(f"Unknown compose field(s) {unknown}; known: {sorted(_REQUEST_TYPES)}.")
    for key, value in data.items():
        wanted = _REQUEST_TYPES[key]
        if not isinstance(value, wanted) or (isinstance(value, bool) and wanted is int):
            raise ConfigError(f"Compose field {key!r} has the wrong type: {value!r}.")
    names = data.get("customer_names", [])
    if not all(isinstance(n, str) for n in names):
        raise ConfigError("Compose field 'customer_names' must be a list of strings.")
    return ComposeRequest(**{**data, "customer_names": tuple(names)})


@dataclass(frozen=True)
class CopyVariant:
    """One text that passed the guardrails (or the safe default), with a stable id that a
    decision can log as its action (``copy_type-template@subject#sha8``)."""

    id: str
    text: str
    template: str
    backend: str
    safe_default: bool = False


@dataclass(frozen=True)
class ComposedCopy:
    """The variants for one request, the passages they rest on, and what was blocked.

    On an edge node, ``variant_id`` names the variant to show (first in ``variants``),
    chosen by the node's variant bandit with probability ``propensity``; ``probabilities``
    gives every candidate phrasing's (template id -> probability, summing to 1) and
    ``log_id`` the row of the node's variant log. The engine alone leaves them empty.
    """

    variants: tuple[CopyVariant, ...]
    passages: tuple[str, ...]
    blocked: dict[str, int] = field(default_factory=dict)
    backend: str = "builtin"
    drafts: int = 0
    fell_back: bool = False
    latency_us: float = 0.0
    pack_version: str = ""
    variant_id: str = ""
    propensity: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    log_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (for the local API and the CLI)."""
        return {
            "variants": [v.__dict__ for v in self.variants],
            "passages": list(self.passages),
            "blocked": dict(self.blocked),
            "backend": self.backend,
            "drafts": self.drafts,
            "fell_back": self.fell_back,
            "latency_us": self.latency_us,
            "pack_version": self.pack_version,
            "variant_id": self.variant_id,
            "propensity": self.propensity,
            "probabilities": dict(self.probabilities),
            "log_id": self.log_id,
        }


class ContentEngine:
    """Retrieval, composition and guardrails over one content pack; thread-safe.

    Examples
    --------
    >>> request = ComposeRequest("offer_blurb", sku="sku-home-003", offer_name="10% off")
    >>> (request.surface, request.n_variants)
    ('screen', 3)
    """

    def __init__(
        self,
        pack_dir: Path,
        info: dict[str, Any],
        index: PassageIndex,
        embedder: Embedder,
        backend: CopyBackend | None = None,
    ) -> None:
        self.pack_dir, self.info, self.index, self.embedder = pack_dir, info, index, embedder
        self.backend = backend
        self.builtin = TemplateComposer()
        self.banned: tuple[str, ...] = tuple(info.get("banned", ()))
        self.tone = str(info.get("tone", ""))
        # Brands of the pack: naming one that was not retrieved is an ungrounded product fact
        # (names carry their brand; checking brands keeps the check cheap on 100k chunks).
        self.known_names = sorted(
            {str(p.facts["brand"]) for p in index.passages if p.facts.get("brand")}
        )
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls, pack_dir: str | os.PathLike[str], *, backend: CopyBackend | None = None
    ) -> ContentEngine:
        """Load a pack directory (``pack.json``, index, embedder graph, tokenizer)."""
        root = Path(pack_dir)
        try:
            info = json.loads((root / PACK_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{root} is not a readable content pack ({exc}); rebuild it."
            ) from None
        if info.get("format") != PACK_FORMAT:
            raise ConfigError(
                f"Content pack format {info.get('format')!r} is not {PACK_FORMAT}; rebuild it."
            )
        spec = info["embedder"]
        embedder = Embedder.from_files(root / spec["file"], root / spec["tokenizer"], spec["kind"])
        return cls(root, info, PassageIndex(root / info["index"]), embedder, backend)

    def retrieve(
        self, text: str, *, k: int = 5, filters: Filters | None = None, now: float | None = None
    ) -> list[Hit]:
        """Hybrid retrieval of ``k`` passages for ``text``."""
        return self.index.search(self.embedder.embed_one(text), text, k=k, filters=filters, now=now)

    def compose(self, request: ComposeRequest, *, now: float | None = None) -> ComposedCopy:
        """Variants for ``request``: retrieve, write, guard; a safe default if all are blocked."""
        started = time.perf_counter()
        hits = self._hits(request, now)
        brief = self._brief(request, hits)
        drafts, backend, fell_back = self._write(request, brief)
        variants, blocked = self._guard(request, brief, drafts, backend, hits)
        return ComposedCopy(
            tuple(variants),
            tuple(h.passage.id for h in hits),
            blocked,
            backend,
            len(drafts),
            fell_back,
            (time.perf_counter() - started) * 1e6,
            str(self.info.get("version", "")),
        )

    def _hits(self, request: ComposeRequest, now: float | None) -> list[Hit]:
        filters = Filters(
            category=request.category, in_stock=request.in_stock, locale=request.locale
        )
        if request.sku:
            passages = self.index.get([request.sku])
            hits = [Hit(p, 1.0, 0, 0) for p in passages if _usable(p, request, now)]
            if request.query.strip():
                hits += [
                    h
                    for h in self.retrieve(
                        request.query, k=3, filters=Filters(kinds=("faq",)), now=now
                    )
                ]
            return hits
        if request.copy_type == "product_answer":
            faq = self.retrieve(request.query, k=3, filters=Filters(kinds=("faq",)), now=now)
            return faq + self.retrieve(request.query, k=2, filters=filters, now=now)
        return self.retrieve(request.query, k=5, filters=filters, now=now)

    def _brief(self, request: ComposeRequest, hits: list[Hit]) -> CopyBrief:
        product = next((h.passage for h in hits if h.passage.kind == "product"), None)
        answers = tuple(h.passage.text for h in hits if h.passage.kind == "faq")
        evidence = tuple(h.passage.text for h in hits) + (
            (request.offer_name,) if request.offer_name else ()
        )
        return CopyBrief(
            copy_type=request.copy_type,
            facts=dict(product.facts) if product else {},
            answers=answers,
            evidence=evidence,
            offer=request.offer_name,
            tone=self.tone,
            max_chars=SURFACE_LIMITS.get(request.surface, min(SURFACE_LIMITS.values())),
            n=request.n_variants,
            seed=request.seed,
        )

    def _write(self, request: ComposeRequest, brief: CopyBrief) -> tuple[list[Draft], str, bool]:
        if request.escalate and self.backend is not None:
            try:
                drafts = self.backend.write(brief)
                if drafts:
                    return drafts, self.backend.name, False
            except EdgeError as exc:
                _log.warning(
                    "copy backend %s failed, using the built-in composer: %s",
                    self.backend.name,
                    exc,
                )
            self._count("backend_fallback")
            return self.builtin.write(brief), self.builtin.name, True
        return self.builtin.write(brief), self.builtin.name, False

    def _guard(
        self,
        request: ComposeRequest,
        brief: CopyBrief,
        drafts: list[Draft],
        backend: str,
        hits: list[Hit],
    ) -> tuple[list[CopyVariant], dict[str, int]]:
        subject = request.sku or (hits[0].passage.id if hits else "none")
        blocked: Counter[str] = Counter()
        variants = []
        for draft in drafts:
            verdict = check(
                draft.text,
                surface=request.surface,
                evidence=brief.evidence,
                banned=self.banned,
                names=request.customer_names,
                known_names=self.known_names,
            )
            if verdict.ok:
                variants.append(
                    CopyVariant(_variant_id(draft, subject), draft.text, draft.template, backend)
                )
                continue
            blocked.update(verdict.reasons)
            _log.info(
                "blocked %s copy from %s: %s",
                request.copy_type,
                backend,
                ", ".join(verdict.reasons),
            )
        if not variants:
            text = SAFE_DEFAULTS[request.copy_type]
            variants.append(
                CopyVariant(f"{request.copy_type}-default", text, "default", "builtin", True)
            )
            blocked["safe_default"] += 1
        for reason, n in blocked.items():
            self._count(reason, n)
        self._count("composed")
        return variants, dict(blocked)

    def _count(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._counts[reason] += n

    def stats(self) -> dict[str, int]:
        """Counts since open: ``composed`` requests, blocked texts by reason, fallbacks."""
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        """Release the index connection."""
        self.index.close()


def _usable(passage: Passage, request: ComposeRequest, now: float | None) -> bool:
    """Whether a passage named by sku is alive at ``now`` and in stock when that is asked."""
    if passage.expires_at is not None and passage.expires_at <= (
        time.time() if now is None else now
    ):
        return False
    return (
        request.in_stock is None or passage.in_stock is None or passage.in_stock == request.in_stock
    )


def _variant_id(draft: Draft, subject: str) -> str:
    digest = hashlib.sha256(draft.text.encode()).hexdigest()[:8]
    return f"{draft.template}@{subject}#{digest}"
