"""The per-node privacy ledger: epsilon spent per period, refusing releases beyond the budget.

Accounting: a release of one experiment's rows for one data day costs that row set's
epsilon (parallel composition across the arms of a day, since contributions are bounded
per user over the whole row set); releases add up within a period (sequential
composition). Periods are calendar blocks of ``period_days`` days counted from the epoch
(period = day // period_days), charged by the day the data is from. The ledger itself holds
no storage: its owner persists ``entries`` in the same transaction as the release.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from edgemark.errors import PrivacyBudgetExceeded, PrivacyError


@dataclass(frozen=True, slots=True)
class PrivacyBudget:
    """At most ``epsilon`` per period of ``period_days`` days.

    >>> PrivacyBudget(10.0, 30).period_of(20460)
    682
    """

    epsilon: float
    period_days: int = 30

    def __post_init__(self) -> None:
        if not (isinstance(self.epsilon, int | float) and math.isfinite(self.epsilon)):
            raise PrivacyError(f"budget epsilon must be a finite number, got {self.epsilon!r}")
        if self.epsilon <= 0:
            raise PrivacyError(f"budget epsilon must be > 0, got {self.epsilon!r}")
        if isinstance(self.period_days, bool) or not isinstance(self.period_days, int):
            raise PrivacyError(f"period_days must be a whole number, got {self.period_days!r}")
        if self.period_days < 1:
            raise PrivacyError(f"period_days must be >= 1, got {self.period_days!r}")

    def period_of(self, day: int) -> int:
        """The period a data day belongs to."""
        return day // self.period_days


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One release: its id (idempotent), data day, period and epsilon."""

    release_id: str
    day: int
    period: int
    epsilon: float


class PrivacyLedger:
    """Records epsilon per period and refuses a release that would exceed the budget.

    >>> ledger = PrivacyLedger(PrivacyBudget(2.0, 30))
    >>> ledger.charge("d1/exp", day=0, epsilon=1.5).epsilon
    1.5
    >>> ledger.charge("d2/exp", day=1, epsilon=1.0)
    Traceback (most recent call last):
    ...
    edgemark.errors.PrivacyBudgetExceeded: Releasing d2/exp would spend epsilon 1 in period 0 ...
    """

    def __init__(self, budget: PrivacyBudget, entries: Iterable[LedgerEntry] = ()) -> None:
        self.budget = budget
        self._entries: dict[str, LedgerEntry] = {}
        self._spent: dict[int, float] = {}
        for entry in entries:
            self._add(entry)

    def spent(self, period: int) -> float:
        """Epsilon spent in ``period``."""
        return self._spent.get(period, 0.0)

    def remaining(self, day: int) -> float:
        """Epsilon still available for data of ``day``."""
        return max(0.0, self.budget.epsilon - self.spent(self.budget.period_of(day)))

    def check(self, release_id: str, day: int, epsilon: float) -> LedgerEntry:
        """The entry ``charge`` would record; raises ``PrivacyBudgetExceeded`` if over budget."""
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise PrivacyError(f"a release must spend a finite epsilon > 0, got {epsilon!r}")
        if release_id in self._entries:
            return self._entries[release_id]
        period = self.budget.period_of(day)
        spent = self.spent(period)
        if spent + epsilon > self.budget.epsilon * (1 + 1e-9):
            first = period * self.budget.period_days
            raise PrivacyBudgetExceeded(
                f"Releasing {release_id} would spend epsilon {epsilon:g} in period {period} "
                f"(days {first}-{first + self.budget.period_days - 1}), where {spent:g} of "
                f"the budget {self.budget.epsilon:g} is spent already; the release is "
                "refused. Raise the node's privacy budget or report with a smaller "
                "epsilon_per_report."
            )
        return LedgerEntry(release_id, day, period, float(epsilon))

    def charge(self, release_id: str, day: int, epsilon: float) -> LedgerEntry:
        """Record a release (idempotent per ``release_id``) or raise ``PrivacyBudgetExceeded``."""
        entry = self.check(release_id, day, epsilon)
        self._add(entry)
        return entry

    def entries(self) -> list[LedgerEntry]:
        """Every recorded release, in the order recorded."""
        return list(self._entries.values())

    def _add(self, entry: LedgerEntry) -> None:
        if entry.release_id in self._entries:
            return
        self._entries[entry.release_id] = entry
        self._spent[entry.period] = self._spent.get(entry.period, 0.0) + entry.epsilon
