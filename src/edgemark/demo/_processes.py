"""Child processes of the demo (the hub and the edge nodes): start, wait for, and stop.

Each child binds port 0 on 127.0.0.1 and writes the port it got to a file, so the demo
never guesses a free port. Children run in their own session so that stopping is ours
to order: SIGTERM first, SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from edgemark.errors import EdgemarkError


@dataclass
class ManagedProcess:
    """A child process with its log file and the port file it reports its port in."""

    name: str
    popen: subprocess.Popen[bytes]
    port_file: Path
    log_path: Path

    def wait_for_port(self, timeout_s: float) -> int:
        """Block until the child wrote its port, or fail with the tail of its log."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise EdgemarkError(
                    f"{self.name} exited with code {self.popen.returncode} before it was ready; "
                    f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
                )
            text = self.port_file.read_text().strip() if self.port_file.exists() else ""
            if text.isdigit():
                return int(text)
            time.sleep(0.05)
        raise EdgemarkError(
            f"{self.name} did not report a port within {timeout_s:.0f} s; "
            f"its log ({self.log_path}) ends with:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the child's log."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if the child has not exited within ``grace_s``."""
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=grace_s)


def start_edgemark(
    name: str, args: list[str], *, port_file: Path, log_dir: Path, env: dict[str, str]
) -> ManagedProcess:
    """Start ``python -m edgemark ARGS`` with its output in ``log_dir/NAME.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    port_file.unlink(missing_ok=True)
    log_path = log_dir / f"{name}.log"
    child_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [sys.executable, "-m", "edgemark", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            start_new_session=True,
        )
    return ManagedProcess(name=name, popen=popen, port_file=port_file, log_path=log_path)


def wait_healthy(url: str, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise EdgemarkError(f"{url} did not become healthy within {timeout_s:.0f} s ({last}).")
