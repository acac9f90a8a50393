"""The serving bundle's content pack on the node: opened beside the model before a swap.

A bundle that lists ``content/*`` files carries a pack; the content plane is the
``content`` extra, so it is imported only here and only when a bundle carries one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgemark._extras import require
from edgemark.bundle import Manifest
from edgemark.errors import BundleError, EdgeError, EdgemarkError

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


def compose_from(content: Any | None, version: str, request: Any) -> Any:
    """Compose with the serving bundle's pack; ``EdgeError`` when the bundle has none."""
    if content is None:
        raise EdgeError(
            f"Bundle {version} carries no content pack; build one with "
            "'edgemark content pack build' and ship it as content/* bundle files."
        )
    return content.compose(request)
