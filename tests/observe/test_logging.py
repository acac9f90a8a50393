"""Structured logs: JSON lines with request ids, secrets masked, and the hub's access log."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgemark.errors import ConfigError
from edgemark.hub import HubSettings, Secret, ServerThread
from edgemark.observe import JsonFormatter, add_secret, configure_logging, redact, request_id
from tests.hub._support import ADMIN_TOKEN


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging({"EDGEMARK_LOG_FORMAT": "json"}, stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_record_is_one_json_line_with_extras_and_request_id(logs: io.StringIO) -> None:
    token = request_id.set("req-7")
    try:
        logging.getLogger("edgemark.test").warning("sent %d rows", 3, extra={"node": "store-1"})
    finally:
        request_id.reset(token)
    line = json.loads(logs.getvalue().strip())
    assert line["message"] == "sent 3 rows" and line["level"] == "warning"
    assert line["request_id"] == "req-7" and line["node"] == "store-1"
    assert line["logger"] == "edgemark.test" and line["ts"].endswith("Z")


def test_tokens_and_registered_secrets_are_masked(logs: io.StringIO) -> None:
    add_secret("bootstrap-secret-value-123")
    log = logging.getLogger("edgemark.test")
    log.error("token emn_AbCdEf0123456789xyz leaked, header Bearer abc.def-ghi")
    log.error("admin bootstrap-secret-value-123 and ema_ZZZZZZZZZZZZ and eme_YYYYYYYYYYYY")
    text = logs.getvalue()
    for secret in ("AbCdEf0123456789xyz", "abc.def-ghi", "bootstrap-secret-value-123",
                   "ZZZZZZZZZZZZ", "YYYYYYYYYYYY"):  # fmt: skip
        assert secret not in text
    assert "emn_***" in text and "Bearer ***" in text
    assert redact("node-0123 and v1.2") == "node-0123 and v1.2"  # ordinary ids stay


def test_a_bad_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="EDGEMARK_LOG_FORMAT"):
        configure_logging({"EDGEMARK_LOG_FORMAT": "xml"})


def test_the_hub_logs_requests_with_their_id_and_never_the_token(
    tmp_path: Path, logs: io.StringIO
) -> None:
    settings = HubSettings(Secret(ADMIN_TOKEN), database_url=f"sqlite:///{tmp_path / 'h.db'}",
                           bundle_dir=tmp_path / "b")  # fmt: skip
    add_secret(ADMIN_TOKEN)
    with ServerThread(settings) as hub:
        r = httpx.get(f"{hub.url}/v1/nodes", headers={"Authorization": "Bearer wrong-token"})
        assert r.status_code == 401
        rid = r.headers["x-request-id"]
        ok = httpx.get(f"{hub.url}/v1/nodes", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert ok.status_code == 200
    lines = [json.loads(x) for x in logs.getvalue().splitlines() if x.startswith("{")]
    access = [x for x in lines if x["logger"] == "edgemark.hub.access"]
    refused = next(x for x in access if x.get("request_id") == rid)
    assert refused["status"] == 401 and refused["route"] == "/v1/nodes"
    assert ADMIN_TOKEN not in logs.getvalue() and "wrong-token" not in logs.getvalue()


def test_the_formatter_keeps_exceptions() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["error"]
