"""Demo settings refuse what would make the demo meaningless, with a message that says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemark.demo import DemoSettings, run_demo
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
        ({"offer_priors_epsilon": -1.0}, "offer_priors_epsilon"),
        ({"offer_priors_epsilon": float("nan")}, "offer_priors_epsilon"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        DemoSettings(**kwargs)  # type: ignore[arg-type]


def test_a_foreign_work_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "precious.txt").write_text("not the demo's")
    with pytest.raises(ConfigError, match="not made by the demo"):
        run_demo(DemoSettings(out_dir=tmp_path))
    assert (tmp_path / "work" / "precious.txt").exists()


def test_a_previous_demo_work_directory_is_replaced(tmp_path: Path) -> None:
    from edgemark.demo._scenario import _fresh_work_dir

    first = _fresh_work_dir(tmp_path / "work")
    (first / "keys").mkdir()
    (first / "keys" / "pseudonym.key").write_bytes(b"k" * 32)
    second = _fresh_work_dir(tmp_path / "work")
    assert second == first
    assert not (second / "keys").exists()
