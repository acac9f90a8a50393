"""A short demo run logs structured JSON with request ids, and no token anywhere.

Every credential the demo makes (the hub's bootstrap admin token, each enrolment token and
node token) is recorded where the demo hands it over, then searched for in every log,
every file the demo wrote and everything it printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgemark.demo import DemoSettings, _scenario, run_demo, write_outputs
from edgemark.hub import AdminClient

pytestmark = pytest.mark.slow


def test_demo_logs_are_json_with_request_ids_and_hold_no_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    tokens: set[str] = set()
    start = _scenario.start_edgemark

    def recording_start(*args: Any, **kwargs: Any) -> Any:
        for key in ("EDGEMARK_ADMIN_TOKEN", "EDGEMARK_NODE_TOKEN"):
            if kwargs["env"].get(key):
                tokens.add(kwargs["env"][key])
        return start(*args, **kwargs)

    enrolment, enrol = AdminClient.create_enrolment_token, AdminClient.enrol

    def recording_enrolment(self: AdminClient, node_name: str) -> dict[str, Any]:
        out = enrolment(self, node_name)
        tokens.add(out["enrolment_token"])
        return out

    def recording_enrol(self: AdminClient, enrolment_token: str, node_name: str) -> dict[str, str]:
        out = enrol(self, enrolment_token, node_name)
        tokens.add(out["node_token"])
        return out

    monkeypatch.setattr(_scenario, "start_edgemark", recording_start)
    monkeypatch.setattr(AdminClient, "create_enrolment_token", recording_enrolment)
    monkeypatch.setattr(AdminClient, "enrol", recording_enrol)

    settings = DemoSettings(out_dir=tmp_path / "out", days=14, history_days=21, customers=2000,
                            seed=5)  # fmt: skip
    write_outputs(run_demo(settings), settings.out_dir)
    printed = capfd.readouterr()

    nodes = settings.nodes
    assert len(tokens) == 1 + 2 * nodes, "the demo's credentials were not all recorded"
    files = [p for p in settings.out_dir.rglob("*") if p.is_file()]
    logs = [p for p in files if p.suffix == ".log"]
    assert len(logs) >= 1 + nodes
    for token in tokens:
        assert token not in printed.out and token not in printed.err
        for path in files:
            assert token.encode() not in path.read_bytes(), f"a token is in {path}"

    hub_lines = [json.loads(line) for line in (settings.out_dir / "work" / "logs" / "hub.log")
                 .read_text().splitlines() if line.startswith("{")]  # fmt: skip
    assert hub_lines, "the hub does not log JSON lines"
    assert all({"ts", "level", "logger", "message"} <= set(line) for line in hub_lines)
    assert any(line.get("request_id") for line in hub_lines)
