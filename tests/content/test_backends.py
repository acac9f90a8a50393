"""The OpenAI-compatible backend against a fake server on loopback; the circuit breaker;
the llama.cpp backend's refusals without a model or without the package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from edgemark.content import CircuitBreaker, CopyBrief, LlamaCppBackend, OpenAICompatBackend
from edgemark.errors import ConfigError, EdgeError, MissingExtraError
from tests.content.fake_llm import serve_fake_llm

BRIEF = CopyBrief(
    "headline", evidence=("Oat milk. Price: 2.99 GBP.",), offer="10% off", n=2, seed=3
)


def test_backend_sends_facts_and_parses_lines() -> None:
    with serve_fake_llm() as fake:
        backend = OpenAICompatBackend(fake.url, "tiny", api_key="sk-test", token_budget=1000)
        drafts = backend.write(BRIEF)
        backend.close()
    assert [d.text for d in drafts] == ["First line", "Second line"]
    assert [d.template for d in drafts] == ["openai-0", "openai-1"]
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["model"] == "tiny" and sent["seed"] == 3 and sent["max_tokens"] == 200
    assert "Oat milk. Price: 2.99 GBP." in sent["messages"][1]["content"]
    assert backend.tokens_used == 40
    assert "sk-test" not in repr(backend)


def test_timeouts_open_the_breaker_then_one_trial_after_the_reset() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, reset_s=30.0, clock=lambda: now[0])
    with serve_fake_llm() as fake:
        fake.delay_s = 0.5
        backend = OpenAICompatBackend(fake.url, "m", timeout_s=0.1, breaker=breaker)
        for _ in range(2):
            with pytest.raises(EdgeError, match="failed"):
                backend.write(BRIEF)
        assert breaker.state == "open"
        with pytest.raises(EdgeError, match="circuit breaker is open"):
            backend.write(BRIEF)
        assert len(fake.requests) == 2  # an open breaker sends nothing
        fake.delay_s = 0.0
        now[0] = 31.0
        assert breaker.state == "half-open"
        assert backend.write(BRIEF)
        assert breaker.state == "closed"
        backend.close()


@pytest.mark.parametrize("mode", ["error", "garbage"])
def test_http_errors_and_bad_answers_are_edge_errors(mode: str) -> None:
    with serve_fake_llm() as fake:
        fake.mode = mode
        backend = OpenAICompatBackend(fake.url, "m")
        with pytest.raises(EdgeError):
            backend.write(BRIEF)
        backend.close()
    assert backend.breaker.state == "closed"  # one failure is not enough to trip


def test_token_budget_is_enforced() -> None:
    with serve_fake_llm() as fake:
        fake.tokens = 150
        backend = OpenAICompatBackend(fake.url, "m", max_tokens=100, token_budget=300)
        backend.write(BRIEF)
        backend.write(BRIEF)  # 150 used + 100 reserved fits in 300
        with pytest.raises(EdgeError, match="token budget"):
            backend.write(BRIEF)  # 300 used: nothing is left
        backend.close()
    assert len(fake.requests) == 2
    assert backend.tokens_used == 300


def test_bad_urls_are_refused() -> None:
    with pytest.raises(ConfigError, match="http"):
        OpenAICompatBackend("ftp://127.0.0.1/v1", "m")


def test_llama_backend_needs_a_file_and_the_package(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        LlamaCppBackend(tmp_path / "missing.gguf")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    if importlib.util.find_spec("llama_cpp") is None:
        with pytest.raises(MissingExtraError, match="llama-cpp-python"):
            LlamaCppBackend(gguf)
