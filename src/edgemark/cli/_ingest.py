"""CLI verbs of this plane (placeholder until the plane lands)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this plane's commands to ``app``."""
