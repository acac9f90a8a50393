"""Demo settings refuse what would make the demo meaningless, with a message that says why."""

from __future__ import annotations

import pytest

from edgemark.demo import DemoSettings
from edgemark.errors import ConfigError


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"nodes": 3}, "at least 4 edge nodes"),
        ({"days": 10}, "at least 14 simulated days"),
        ({"history_days": 14}, "history"),
        ({"customers": 50}, "at least 200 customers"),
        ({"v2_day": 9, "v3_day": 8}, "v2_day < v3_day"),
        ({"holdout_share": 1.0}, "holdout_share"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        DemoSettings(**kwargs)  # type: ignore[arg-type]
