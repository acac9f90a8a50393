"""Deterministic holdout assignment: the same pseudonym and salt always land in the same arm.

u = first 8 bytes of sha256(f"{salt}:{pseudonym}") as an integer / 2**64; holdout iff u < share.
"""

from __future__ import annotations

import hashlib


def holdout_unit(salt: str, pseudonym: str) -> float:
    """The user's uniform number in [0, 1) for this experiment salt."""
    digest = hashlib.sha256(f"{salt}:{pseudonym}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(salt: str, pseudonym: str, share: float) -> bool:
    """True if the user belongs to the holdout (control) group of the experiment.

    >>> in_holdout("exp-1", "u_abc", 0.0), in_holdout("exp-1", "u_abc", 1.0)
    (False, True)
    """
    return holdout_unit(salt, pseudonym) < share
