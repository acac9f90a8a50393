"""Where the shared real data sets live, and a skip when they are absent."""

from __future__ import annotations

from pathlib import Path

import pytest

HILLSTROM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hillstrom.csv"


def hillstrom() -> Path:
    """The Hillstrom e-mail experiment CSV, or skip the test with the reason."""
    if not HILLSTROM.is_file():
        pytest.skip(f"real data set absent: {HILLSTROM} (see shared/data/README.md)")
    return HILLSTROM
