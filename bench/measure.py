"""Bench: the measurement plane at scale.

- attribution on 1 million paths (one journey per row, 5 channels, from ``JourneyWorld``):
  every model (five rules, Markov orders 1-3, Shapley) from the CSV file, in the first
  child process so the children's peak RSS is its own; our Markov order 1 alone (CSV read
  included, and the read alone), and ChannelAttribution's ``markov_model`` (order 1, its
  default simulation; timed from an in-memory DataFrame) on the same file, if installed;
- uplift with intervals (3 arms, plain and CUPED) on 10 million rows in memory;
- an MMM fit (PyMC-Marketing, 2 years weekly x 5 channels, 2 chains x 500 draws after 500
  tuning steps) in a child process, bounded by ``MMM_TIMEOUT_S``.

Prints one JSON object: {"bench": "measure", "figures": {...}}.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgemark.measure import ab_test
from edgemark.sim import JourneyWorld
from edgemark.sim._media import simulate_media

PATHS = 1_000_000
ROWS = 10_000_000
MMM_TIMEOUT_S = 240
CHILD_TIMEOUT_S = 300


def _write_paths(path: Path) -> None:
    world = JourneyWorld.random(seed=3)
    journeys, converted, value = world.journeys(PATHS, seed=1)
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["path", "total_conversions", "total_null", "total_conversion_value"])
        for touches, conv, v in zip(journeys, converted.tolist(), value.tolist(), strict=True):
            name = " > ".join(world.channels[i] for i in touches)
            out.writerow([name, int(conv), int(1 - conv), f"{v:.2f}"])


def _child(code: str, timeout: float) -> dict[str, float] | str:
    """Run ``code`` in a fresh interpreter; it prints a JSON dict. Adds its peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr else done.returncode}"
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_rss_mb"] = round(max(peak, before) / 1024, 1)  # kB on Linux
    return result


def _attribution(root: Path) -> dict[str, object]:
    path = root / "paths.csv"
    _write_paths(path)
    ours = _child(
        "import json, time\n"
        "from edgemark.measure import attribution_csv\n"
        "t = time.perf_counter()\n"
        f"r = attribution_csv({str(path)!r})\n"
        "print(json.dumps({'s': time.perf_counter() - t, 'states3': r.markov[2].states}))",
        CHILD_TIMEOUT_S,
    )
    markov1 = _child(
        "import json, time\n"
        "from edgemark.measure import markov_attribution, read_paths\n"
        "t = time.perf_counter()\n"
        f"paths = read_paths({str(path)!r})\n"
        "read = time.perf_counter() - t\n"
        "markov_attribution(paths, 1)\n"
        "print(json.dumps({'s': time.perf_counter() - t, 'read': read}))",
        CHILD_TIMEOUT_S,
    )
    figures: dict[str, object] = {"attribution_paths": PATHS}
    if isinstance(ours, dict):
        figures["attribution_1m_s"] = round(ours["s"], 2)
        figures["attribution_peak_rss_mb"] = ours["peak_rss_mb"]
        figures["attribution_order3_states"] = int(ours["states3"])
    else:
        figures["attribution_1m_s"] = None
        figures["attribution_note"] = ours
    if isinstance(markov1, dict):
        figures["markov_order1_1m_s"] = round(markov1["s"], 2)
        figures["markov_order1_1m_read_s"] = round(markov1["read"], 2)
    if importlib.util.find_spec("ChannelAttribution") is None:
        figures["channelattribution_1m_s"] = None
        figures["channelattribution_note"] = "ChannelAttribution is not installed"
        return figures
    theirs = _child(
        "import json, time, contextlib, io\n"
        "import pandas as pd\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    import ChannelAttribution as ca\n"
        f"d = pd.read_csv({str(path)!r})\n"
        "t = time.perf_counter()\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    ca.markov_model(d, 'path', 'total_conversions', var_null='total_null',\n"
        "                    order=1, verbose=False, flg_pro=False)\n"
        "print(json.dumps({'s': time.perf_counter() - t}))",
        CHILD_TIMEOUT_S,
    )
    if isinstance(theirs, dict):
        figures["channelattribution_1m_s"] = round(theirs["s"], 2)
    else:
        figures["channelattribution_1m_s"] = None
        figures["channelattribution_note"] = theirs
    return figures


def _uplift() -> dict[str, object]:
    rng = np.random.default_rng(0)
    arm = rng.integers(3, size=ROWS)
    pre = rng.gamma(2.0, 20.0, size=ROWS)
    outcome = 0.3 * pre + rng.normal(0, 10, ROWS) + np.array([0.0, 0.5, 1.0])[arm]
    from edgemark.measure._table import Codes

    codes = Codes(arm.astype(np.int64), ("0", "1", "2"))
    t = time.perf_counter()
    ab_test(codes, outcome)
    plain = time.perf_counter() - t
    t = time.perf_counter()
    ab_test(codes, outcome, covariate=pre)
    cuped = time.perf_counter() - t
    return {"uplift_10m_s": round(plain, 3), "uplift_10m_cuped_s": round(cuped, 3)}


def _mmm(root: Path) -> dict[str, object]:
    if importlib.util.find_spec("pymc_marketing") is None:
        return {"mmm_fit_s": None, "mmm_note": "PyMC-Marketing is not installed"}
    path = root / "weekly.csv"
    data = simulate_media(104, seed=0)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data.rows()[0]))
        writer.writeheader()
        writer.writerows(data.rows())
    channels = list(data.spend)
    result = _child(
        "import json, time\n"
        "from edgemark.measure import mmm_csv\n"
        "t = time.perf_counter()\n"
        f"r = mmm_csv({str(path)!r}, 'date', 'sales', {channels!r}, ['promo'],\n"
        "            draws=500, tune=500, chains=2, seed=1)\n"
        "print(json.dumps({'total': time.perf_counter() - t, 's': r.fit_seconds,\n"
        "                  'rhat': r.rhat_max, 'div': r.divergences}))",
        MMM_TIMEOUT_S,
    )
    if not isinstance(result, dict):
        return {"mmm_fit_s": None, "mmm_note": f"104 weeks x 5 channels: {result}"}
    return {
        "mmm_fit_s": round(result["s"], 1),
        "mmm_build_and_fit_s": round(result["total"], 1),
        "mmm_rhat_max": round(result["rhat"], 3),
        "mmm_divergences": int(result["div"]),
    }


def main() -> None:
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        figures.update(_uplift())
        figures.update(_attribution(root))
        figures.update(_mmm(root))
    print(json.dumps({"bench": "measure", "figures": figures}))


if __name__ == "__main__":
    main()
