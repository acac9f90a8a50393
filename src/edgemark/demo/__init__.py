"""The end-to-end demo: the whole edgemark loop on one machine (``edgemark demo``).

An outer layer like the CLI: it drives the hub and edge nodes as separate processes
through their public interfaces and reports what happened.
"""

from __future__ import annotations

from edgemark.demo._report import build_summary, write_outputs
from edgemark.demo._scenario import DemoRun, run_demo
from edgemark.demo._settings import DemoSettings

__all__ = ["DemoRun", "DemoSettings", "build_summary", "run_demo", "write_outputs"]
