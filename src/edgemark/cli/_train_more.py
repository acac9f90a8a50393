"""CLI verbs ``edgemark train next-category`` and ``edgemark train clv``."""

from __future__ import annotations

import typer


def register_more(train: typer.Typer) -> None:
    """Add the next-category and CLV commands to the ``train`` group."""
