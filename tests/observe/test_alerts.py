"""docs/prometheus/alerts.yml (promtool check + unit tests when promtool is installed,
else a structural check) and docs/grafana/edgemark.json (every query names a metric the
hub or the edge exposes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from edgemark.edge._metrics import render_metrics
from edgemark.hub import HubSettings, Secret, ServerThread
from tests.hub._support import ADMIN, ADMIN_TOKEN
from tests.observe.test_metrics import STATS

DOCS = Path(__file__).resolve().parents[2] / "docs"
RULES = DOCS / "prometheus" / "alerts.yml"
DASHBOARD = DOCS / "grafana" / "edgemark.json"
NAME = re.compile(r"\b(edgemark_[a-z0-9_]+)")


def _promtool() -> str | None:
    found = shutil.which("promtool")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("promtool is not installed (apt-get install prometheus; .ci/run does it)")
    return found


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every metric name the edge and the hub expose (histograms with their suffixes)."""
    tmp = tmp_path_factory.mktemp("hub")
    text = render_metrics(STATS, {})
    settings = HubSettings(Secret(ADMIN_TOKEN), database_url=f"sqlite:///{tmp / 'h.db'}",
                           bundle_dir=tmp / "b")  # fmt: skip
    with ServerThread(settings) as hub:
        httpx.get(f"{hub.url}/v1/nodes", headers=ADMIN)
        text += httpx.get(f"{hub.url}/metrics", headers=ADMIN).text
    names = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    return names | {f"{n}_{s}" for n in names for s in ("bucket", "sum", "count")}


def test_promtool_checks_and_unit_tests_the_rules(tmp_path: Path) -> None:
    promtool = _promtool()
    if promtool is None:
        pytest.skip("promtool is not installed; test_rules_are_well_formed checks the structure")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    tests = tmp_path / "alerts_test.yml"
    source = (Path(__file__).parent / "alerts_test.yml").read_text()
    tests.write_text(source.replace("RULES", str(RULES)))
    done = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_are_well_formed_and_cover_the_slos(exposed: set[str]) -> None:
    doc = yaml.safe_load(RULES.read_text())
    rules = [r for group in doc["groups"] for r in group["rules"]]
    names = {r["alert"] for r in rules}
    for slo in ("EdgemarkDecideP99High", "EdgemarkHubErrorRate", "EdgemarkNodesOffline",
                "EdgemarkDrift", "EdgemarkPrivacyBudgetNearlySpent"):  # fmt: skip
        assert slo in names
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        unknown = set(NAME.findall(rule["expr"])) - exposed
        assert not unknown, (rule["alert"], unknown)


def test_every_dashboard_query_names_an_exposed_metric(exposed: set[str]) -> None:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    for expr in exprs:
        used = set(NAME.findall(expr))
        assert used and not used - exposed, (expr, used - exposed)
    titles = " ".join(p["title"] for p in dash["panels"] if p["type"] == "row").lower()
    for topic in ("fleet", "latency", "guardrails", "drift", "privacy", "rollouts"):
        assert topic in titles
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
