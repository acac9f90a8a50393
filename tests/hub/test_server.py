"""``serve`` in a real subprocess: port 0 + port file, AdminClient talks to it, SIGTERM stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edgemark.hub import AdminClient

from ._support import ADMIN_TOKEN

SCRIPT = """
import sys
from pathlib import Path
from edgemark.hub import HubSettings, serve
settings = HubSettings.from_env()
serve(settings, host="127.0.0.1", port=0, port_file=Path(sys.argv[1]), log_level="warning")
"""


def wait_for_port(port_file: Path, proc: subprocess.Popen[bytes], timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        assert proc.poll() is None, "hub process exited early"
        time.sleep(0.05)
    raise AssertionError("hub did not write its port file in time")


def test_serve_in_a_subprocess_on_port_zero(tmp_path: Path) -> None:
    port_file = tmp_path / "run" / "hub.port"
    env = {
        **os.environ, "EDGEMARK_ADMIN_TOKEN": ADMIN_TOKEN,
        "EDGEMARK_HUB_DB": f"sqlite:///{tmp_path / 'hub.db'}",
        "EDGEMARK_HUB_BUNDLES": str(tmp_path / "bundles"),
    }  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(port_file)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        port = wait_for_port(port_file, proc)
        with AdminClient(f"http://127.0.0.1:{port}", ADMIN_TOKEN) as admin:
            assert admin.health() == {"status": "ok"}
            token = admin.create_enrolment_token("store-1")["enrolment_token"]
            admin.enrol(token, "store-1")
            assert [n["name"] for n in admin.nodes()["nodes"]] == ["store-1"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)

    assert proc.returncode == 0, err.decode()
    assert (tmp_path / "hub.db").exists()
