"""Content evals on the simulator's catalog, with the thresholds the issue sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemark.content import evaluate, rouge_l
from edgemark.content._eval import PROBES
from tests.content.conftest import AS_OF, needs_model


def test_rouge_l_against_hand_computed_values() -> None:
    # LCS("a b c d", "a c d e") = 3 -> P = R = 3/4.
    assert rouge_l("a b c d", "a c d e") == pytest.approx(0.75)
    assert rouge_l("A B", "a b") == 1.0
    assert rouge_l("x", "y") == 0.0 and rouge_l("", "y") == 0.0
    # LCS 2 of 3 candidate words and 5 reference words: F = 2PR/(P+R) with P=2/3, R=2/5.
    assert rouge_l("new oat milk", "oat milk now on offer") == pytest.approx(0.5)


@needs_model
def test_eval_figures_on_the_simulated_catalog(pack_dir: Path, sample_dir: Path) -> None:
    figures = evaluate(pack_dir, sample_dir / "catalog.jsonl", now=AS_OF + 60.0)
    assert figures["queries"] == 80
    assert figures["recall_at_5"] >= 0.95
    assert figures["mrr"] >= 0.9
    assert figures["grounding_rate"] == 1.0
    assert figures["guardrail_rates"]["ungrounded"] == 0.0
    assert figures["safe_default_rate"] <= 0.01
    assert 0.4 <= figures["rouge_l"] <= 1.0
    assert figures["probe_detection"] == {reason: 1.0 for _, reason in PROBES}
