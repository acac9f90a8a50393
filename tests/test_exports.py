"""The top-level public API is pinned: adding or removing a name is a deliberate act."""

from __future__ import annotations

import edgemark
from edgemark import errors


def test_top_level_exports_are_pinned_and_sorted() -> None:
    assert edgemark.__all__ == sorted(edgemark.__all__)
    error_names = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.EdgemarkError)
    }
    assert set(edgemark.__all__) == error_names | {"__version__"}


def test_every_error_is_an_edgemark_error_and_hub_errors_carry_status() -> None:
    assert issubclass(errors.BundleSignatureError, errors.BundleError)
    assert issubclass(errors.PrivacyBudgetExceeded, errors.PrivacyError)
    assert errors.RolloutError("conflict", 409).status == 409
