"""Pluggable copy backends behind one ``write(brief) -> drafts`` interface: a local LLM via
llama-cpp-python (only with a GGUF path; imported lazily, not installed by default) and an
OpenAI-compatible HTTP endpoint with a token budget, a timeout and a circuit breaker.
The engine falls back to the built-in ``TemplateComposer`` whenever one fails or trips.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx

from edgemark.content._compose import CopyBrief, Draft
from edgemark.errors import ConfigError, EdgeError, MissingExtraError


class CopyBackend(Protocol):
    """Anything that turns a brief into draft texts; raise ``EdgeError`` to fall back."""

    name: str

    def write(self, brief: CopyBrief) -> list[Draft]:
        """Draft texts for ``brief`` (the guardrails check them afterwards)."""
        ...


def prompt(brief: CopyBrief) -> list[dict[str, str]]:
    """Chat messages asking for ``brief.n`` lines of copy from the given facts only."""
    facts = "\n".join(f"- {e}" for e in brief.evidence)
    system = (
        "You write short retail marketing copy. Use only the facts listed; never add numbers, "
        f"claims or product names that are not in them. At most {brief.max_chars} characters "
        f"per line.\n{brief.tone}"
    )
    offer = f" The offer is: {brief.offer}." if brief.offer else ""
    kind = brief.copy_type.replace("_", " ")
    user = f"Write {brief.n} different {kind}s, one per line.{offer}\nFacts:\n{facts}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _lines(text: str, brief: CopyBrief, name: str) -> list[Draft]:
    out: list[Draft] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*0123456789.) ").strip().strip('"')
        if line:
            out.append(Draft(line, f"{name}-{len(out)}"))
    return out[: brief.n]


class CircuitBreaker:
    """Opens after ``failures`` consecutive failures; one trial call after ``reset_s``."""

    def __init__(
        self, failures: int = 3, reset_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures, self.reset_s, self.clock = failures, reset_s, clock
        self._count, self._opened_at, self._lock = 0, 0.0, threading.Lock()

    @property
    def state(self) -> str:
        """``closed`` (calls go through), ``open`` (calls refused) or ``half-open`` (one trial)."""
        if self._count < self.failures:
            return "closed"
        return "half-open" if self.clock() - self._opened_at >= self.reset_s else "open"

    def allow(self) -> bool:
        """Whether a call may go through now."""
        return self.state != "open"

    def record(self, ok: bool) -> None:
        """Record a call's outcome; a failure in half-open reopens for another ``reset_s``."""
        with self._lock:
            if ok:
                self._count = 0
                return
            self._count += 1
            if self._count >= self.failures:
                self._opened_at = self.clock()


class OpenAICompatBackend:
    """An OpenAI-compatible ``/chat/completions`` endpoint, for explicit escalation.

    ``token_budget`` caps the tokens (as the server reports them) spent over the backend's
    life; past it, calls are refused. Timeouts, HTTP errors and bad answers count as
    failures for the circuit breaker. ``api_key`` is read by the caller (e.g. from
    ``EDGEMARK_CONTENT_API_KEY``) and only sent as a bearer token.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "",
        timeout_s: float = 2.0,
        max_tokens: int = 200,
        token_budget: int = 50_000,
        breaker: CircuitBreaker | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"Backend URL {base_url!r} must start with http:// or https://.")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.max_tokens, self.token_budget = model, max_tokens, token_budget
        self.tokens_used = 0
        self.breaker = breaker or CircuitBreaker()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers, transport=transport)

    def __repr__(self) -> str:
        return f"OpenAICompatBackend({self.url!r}, model={self.model!r})"  # never the key

    def write(self, brief: CopyBrief) -> list[Draft]:
        """Ask the endpoint; ``EdgeError`` when the breaker is open, the budget is spent or
        the call fails (the engine then uses the built-in composer)."""
        if not self.breaker.allow():
            raise EdgeError(
                "The copy endpoint's circuit breaker is open; using the built-in composer."
            )
        if self.tokens_used + self.max_tokens > self.token_budget:
            raise EdgeError(f"The copy endpoint's token budget ({self.token_budget}) is spent.")
        body = {
            "model": self.model,
            "messages": prompt(brief),
            "max_tokens": self.max_tokens,
            "temperature": 0.7,
            "seed": brief.seed,
        }
        try:
            response = self._client.post(self.url, json=body)
            response.raise_for_status()
            data = response.json()
            text = str(data["choices"][0]["message"]["content"])
            self.tokens_used += int(data.get("usage", {}).get("total_tokens", self.max_tokens))
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            self.breaker.record(False)
            raise EdgeError(f"The copy endpoint failed ({type(exc).__name__}: {exc}).") from None
        self.breaker.record(True)
        return _lines(text, brief, self.name)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class LlamaCppBackend:
    """A local GGUF model through llama-cpp-python (``pip install llama-cpp-python``).

    The package is imported only here, when a user gives a model path.
    """

    name = "llama-cpp"

    def __init__(
        self, model_path: str | os.PathLike[str], *, n_ctx: int = 2048, max_tokens: int = 160
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise ConfigError(f"GGUF model {path} does not exist; give the path of a .gguf file.")
        try:
            llama_cpp = importlib.import_module("llama_cpp")
        except ImportError:
            raise MissingExtraError(
                "A local LLM backend needs llama-cpp-python, which edgemark does not install: "
                "pip install llama-cpp-python"
            ) from None
        self.max_tokens = max_tokens
        self._llm: Any = llama_cpp.Llama(model_path=os.fspath(path), n_ctx=n_ctx, verbose=False)
        self._lock = threading.Lock()  # a llama.cpp context serves one call at a time

    def write(self, brief: CopyBrief) -> list[Draft]:
        """Generate with the local model; any failure is an ``EdgeError`` (fallback)."""
        try:
            with self._lock:
                out = self._llm.create_chat_completion(
                    messages=prompt(brief),
                    max_tokens=self.max_tokens,
                    temperature=0.7,
                    seed=brief.seed,
                )
            text = str(out["choices"][0]["message"]["content"])
        except Exception as exc:  # llama.cpp raises untyped errors
            raise EdgeError(f"The local LLM failed ({type(exc).__name__}: {exc}).") from None
        return _lines(text, brief, self.name)
