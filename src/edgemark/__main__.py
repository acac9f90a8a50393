"""``python -m edgemark`` runs the command line (used to start child processes)."""

from __future__ import annotations

from edgemark.cli import main

main()
