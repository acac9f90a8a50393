"""Readable contrast: every text/background pair the console's stylesheet uses meets WCAG
AA (4.5:1 for body text), by the WCAG 2.x relative-luminance formula."""

from __future__ import annotations

import re

import pytest

from edgemark.hub._console_html import CSS

VARS = dict(re.findall(r"--([a-z]+):(#[0-9a-f]{6})", CSS))


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(fg: str, bg: str) -> float:
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_the_formula_matches_known_ratios() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # just fails AA


def _colour(name: str) -> str:
    return VARS[name[2:]] if name.startswith("--") else name


@pytest.mark.parametrize(
    "fg, bg",
    [
        ("--fg", "--bg"), ("--muted", "--bg"), ("--muted", "--panel"), ("--accent", "--bg"),
        ("--ok", "--okbg"), ("--warn", "--warnbg"), ("--bad", "--badbg"),
        ("#ffffff", "#111827"), ("#ffffff", "#374151"),  # header, current page, header button
        ("#ffffff", "--accent"), ("#ffffff", "#b91c1c"),  # buttons
        ("#1e3a8a", "#dbeafe"), ("#78350f", "#fde68a"), ("#1e40af", "--bg"),  # notice, badge
    ],
)  # fmt: skip
def test_every_pair_meets_wcag_aa(fg: str, bg: str) -> None:
    assert f"{fg[2:]}:" in CSS or fg.startswith("#")
    assert contrast(_colour(fg), _colour(bg)) >= 4.5, (fg, bg)
