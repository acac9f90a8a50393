"""The ``edgemark`` command line: thin, it parses, calls the library and prints."""

from __future__ import annotations

from edgemark.cli._app import app


def main() -> None:
    """Entry point of the ``edgemark`` console script."""
    app()


__all__ = ["app", "main"]
