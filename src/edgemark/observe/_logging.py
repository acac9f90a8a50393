"""Structured logs: one JSON object per line, with the request id and trace ids, secrets masked.

``configure_logging`` is called once by a process's entry point (``hub serve``, ``edge
run``). Every line passes through ``redact``, which masks edgemark tokens (``ema_``,
``emn_``, ``eme_``), bearer credentials and any secret registered with ``add_secret``
(the bootstrap admin token): code must not log secrets, and this catches the mistake.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from edgemark.errors import ConfigError
from edgemark.observe._tracing import current_ids

ENV_FORMAT = "EDGEMARK_LOG_FORMAT"
ENV_LEVEL = "EDGEMARK_LOG_LEVEL"
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_TOKENS = re.compile(r"\b(em[ane]_)[A-Za-z0-9_-]{8,}|(?i:\b(bearer)\s+)[^\s\"',;]+")
_SECRETS: set[str] = set()
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def add_secret(value: str) -> None:
    """Mask ``value`` in every log line from now on (e.g. the bootstrap admin token)."""
    if len(value) >= 8:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with tokens and registered secrets masked.

    >>> redact("Authorization: Bearer abc.def and emn_0123456789abcdef")
    'Authorization: Bearer *** and emn_***'
    """
    for secret in _SECRETS:
        text = text.replace(secret, "***")
    return _TOKENS.sub(lambda m: f"{m.group(1)}***" if m.group(1) else f"{m.group(2)} ***", text)


def accept_request_id(given: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a safe token (1-64 of ``A-Za-z0-9._-``),
    else a fresh random one: a header never injects text into a log line.

    >>> accept_request_id("req-42"), len(accept_request_id("a b")), len(accept_request_id(None))
    ('req-42', 16, 16)
    """
    if given and _REQUEST_ID.match(given):
        return given
    return secrets.token_hex(8)


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON: ts, level, logger, message, request and trace ids,
    and the ``extra={...}`` fields of the call."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            out["request_id"] = rid
        ids = current_ids()
        if ids:
            out["trace_id"], out["span_id"] = ids
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return redact(json.dumps(out, default=str, ensure_ascii=False))


class RedactingFormatter(logging.Formatter):
    """The plain text format, with the same masking."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(
    environ: Mapping[str, str] | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as JSON (EDGEMARK_LOG_FORMAT=json, the
    default) or text, at EDGEMARK_LOG_LEVEL (default INFO); returns the handler."""
    env = os.environ if environ is None else environ
    kind = env.get(ENV_FORMAT, "json").lower()
    level = env.get(ENV_LEVEL, "INFO").upper()
    if kind not in ("json", "text") or level not in logging.getLevelNamesMapping():
        raise ConfigError(
            f"{ENV_FORMAT} must be json or text and {ENV_LEVEL} a level name such as INFO; "
            f"got {kind!r} and {level!r}."
        )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if kind == "json"
        else RedactingFormatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_edgemark", False)]:
        root.removeHandler(old)
    handler._edgemark = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in ("httpx", "httpcore"):  # one INFO line per request to the hub: noise
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
    return handler


def adopt_loggers(names: tuple[str, ...] = ("uvicorn", "uvicorn.error", "uvicorn.access")) -> None:
    """Route loggers that brought their own handlers (uvicorn's) through ours instead.

    Does nothing unless ``configure_logging`` ran in this process.
    """
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_edgemark", False)]
    if not ours:
        return
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def setup_process(
    service_name: str, secrets: tuple[str, ...] = (), environ: Mapping[str, str] | None = None
) -> bool:
    """What a server process's entry point calls once: JSON logs (masking ``secrets``) and,
    when EDGEMARK_OTLP_ENDPOINT is set, traces. Returns whether tracing is on."""
    from edgemark.observe._tracing import TracingSettings, configure_tracing

    for secret in secrets:
        add_secret(secret)
    configure_logging(environ)
    return configure_tracing(TracingSettings.from_env(environ, service_name=service_name))
