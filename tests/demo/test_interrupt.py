"""Ctrl-C or SIGTERM in the middle of the demo stops the hub and every node process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _children_of(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"PPid:\t{pid}\n" in status.read_text():
                found.append(int(status.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_child(tmp_path: Path, signum: signal.Signals) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "edgemark", "demo", "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # A background job may inherit SIGINT ignored; a terminal's Ctrl-C is not.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("work/nodes/*/api.port"))) < 4:
            assert demo.poll() is None, demo.stderr.read().decode() if demo.stderr else ""
            assert time.monotonic() < deadline, "the demo did not start its nodes in time"
            time.sleep(0.2)
        children = _children_of(demo.pid)
        assert len(children) >= 5  # the hub and four nodes

        demo.send_signal(signum)
        code = demo.wait(timeout=60)
        stderr = demo.stderr.read().decode() if demo.stderr else ""
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        if demo.stderr:
            demo.stderr.close()

    assert code == 130
    assert "Interrupted" in stderr and "Traceback" not in stderr
    for child in children:
        assert not Path(f"/proc/{child}").exists() or _is_zombie(child), f"{child} still runs"


def _is_zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
