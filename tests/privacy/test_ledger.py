"""The privacy ledger: epsilon per period, idempotent charges, refusals with a clear message."""

from __future__ import annotations

import pytest

from edgemark.errors import PrivacyBudgetExceeded, PrivacyError
from edgemark.privacy import LedgerEntry, PrivacyBudget, PrivacyLedger


def test_spending_within_and_across_periods() -> None:
    ledger = PrivacyLedger(PrivacyBudget(3.0, period_days=10))
    for day in (0, 3, 9):
        ledger.charge(f"{day}/e", day, 1.0)
    assert ledger.spent(0) == 3.0 and ledger.remaining(5) == 0.0
    with pytest.raises(PrivacyBudgetExceeded, match=r"period 0 \(days 0-9\).*budget 3"):
        ledger.charge("9/other", 9, 0.5)
    ledger.charge("10/e", 10, 3.0)  # a new period has its own budget
    assert ledger.spent(1) == 3.0


def test_charges_are_idempotent_and_restorable() -> None:
    ledger = PrivacyLedger(PrivacyBudget(2.0, 30))
    first = ledger.charge("d1/e", 1, 1.5)
    assert ledger.charge("d1/e", 1, 1.5) == first  # a re-run release costs nothing more
    assert ledger.spent(0) == 1.5
    restored = PrivacyLedger(PrivacyBudget(2.0, 30), ledger.entries())
    assert restored.entries() == [LedgerEntry("d1/e", 1, 0, 1.5)]
    with pytest.raises(PrivacyBudgetExceeded):
        restored.check("d2/e", 2, 0.6)
    assert restored.spent(0) == 1.5  # check() spends nothing


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 0.0}, "> 0"),
        ({"epsilon": float("inf")}, "finite"),
        ({"epsilon": 1.0, "period_days": 0}, ">= 1"),
    ],
)
def test_bad_budgets_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(PrivacyError, match=message):
        PrivacyBudget(**kwargs)  # type: ignore[arg-type]


def test_a_release_must_spend_something() -> None:
    with pytest.raises(PrivacyError, match="finite epsilon"):
        PrivacyLedger(PrivacyBudget(1.0)).charge("x", 0, 0.0)
