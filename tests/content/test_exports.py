from __future__ import annotations

import edgemark.content


def test_public_names_are_pinned() -> None:
    assert edgemark.content.__all__ == [
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
    assert all(hasattr(edgemark.content, name) for name in edgemark.content.__all__)
