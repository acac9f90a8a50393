"""Import of optional dependencies, failing with a message that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from edgemark.errors import MissingExtraError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``MissingExtraError`` naming ``edgemark[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"This needs the optional dependency {module!r}, which is not installed. "
            f"Install it with: pip install 'edgemark[{extra}]'"
        ) from exc
