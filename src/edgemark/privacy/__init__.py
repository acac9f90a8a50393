"""Privacy plane: differentially-private noise (through OpenDP) for the reports nodes send.

Core install: OpenDP is a core dependency because every edge node noises its own reports.
The per-node privacy ledger (``PrivacyLedger``) refuses releases beyond a ``PrivacyBudget``.
"""

from __future__ import annotations

from edgemark.privacy._laplace import (
    count_mechanism,
    laplace_count,
    laplace_sum,
    noise_scale,
    sum_mechanism,
)
from edgemark.privacy._ledger import LedgerEntry, PrivacyBudget, PrivacyLedger

__all__ = [
    "LedgerEntry",
    "PrivacyBudget",
    "PrivacyLedger",
    "count_mechanism",
    "laplace_count",
    "laplace_sum",
    "noise_scale",
    "sum_mechanism",
]
