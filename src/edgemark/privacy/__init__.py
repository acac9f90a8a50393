"""Privacy plane: differentially-private noise (through OpenDP) for the reports nodes send.

Core install: OpenDP is a core dependency because every edge node noises its own reports.
The per-node privacy ledger (``PrivacyLedger``) refuses releases beyond a ``PrivacyBudget``.
Erasure (``erase_user``) and retention (``apply_retention``) of the data platform's files
need the ``train`` extra (pyarrow), which they import when they run.
"""

from __future__ import annotations

from edgemark.privacy._erasure import ErasureReport, erase_user
from edgemark.privacy._laplace import (
    count_mechanism,
    laplace_count,
    laplace_sum,
    noise_scale,
    sum_mechanism,
)
from edgemark.privacy._ledger import LedgerEntry, PrivacyBudget, PrivacyLedger
from edgemark.privacy._retention import RetentionReport, apply_retention

__all__ = [
    "ErasureReport",
    "LedgerEntry",
    "PrivacyBudget",
    "PrivacyLedger",
    "RetentionReport",
    "apply_retention",
    "count_mechanism",
    "erase_user",
    "laplace_count",
    "laplace_sum",
    "noise_scale",
    "sum_mechanism",
]
