"""The demo report's measurement section on data built here: a simulated randomised
experiment, reported through the edge's own DP rows, lands on the simulator's truth, and
the HTML carries the plots with Plotly embedded (never from a CDN)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgemark.demo._measure_section import measurement_results, measurement_section
from edgemark.edge._reports import build_day_rows
from edgemark.edge._settings import parse_policy
from edgemark.edge._state import DayDecision
from edgemark.sim import RetailWorld, SimConfig

pytest.importorskip("plotly")

CAP = 250.0


def _experiment() -> tuple[RetailWorld, list[dict[str, Any]], list[dict[str, Any]]]:
    world = RetailWorld(SimConfig(customers=2500, nodes=2, seed=5))
    offers = [o.to_dict() for o in world.offers]
    policy = parse_policy(
        {
            "experiment": "exp", "salt": "s", "holdout_share": 0.25, "lookback_hours": 24.0,
            "epsilon_per_report": 2.0, "max_contributions_per_user": 1, "revenue_cap": CAP,
            "prior_alpha": 1.0, "prior_beta": 1.0,
        },
        offers,
    )  # fmt: skip
    arms = ["holdout", *(o["id"] for o in offers)]
    rows: list[dict[str, Any]] = []
    logged: list[dict[str, Any]] = []
    for day in range(14):
        rng = np.random.default_rng([5, day])
        by_node: dict[str, list[DayDecision]] = {n: [] for n in world.nodes}
        for visit in world.visits(day):
            arm = arms[int(rng.integers(len(arms)))]
            offer = None if arm == "holdout" else arm
            events = world.shop(visit, offer, rng)
            paid = [e.amount or 0.0 for e in events if e.type == "purchase"]
            layer = "holdout" if offer is None else "explore"
            revenue = paid[0] if paid else None
            decision = (f"{day}-{visit.seq}", visit.customer_id, "exp", layer, arm, 1, revenue, "")
            by_node[visit.node].append(decision)
            logged.append(
                {"offer": offer, "probability": 0.25, "bought": int(bool(paid)), "layer": layer}
            )
        for node, decisions in by_node.items():
            decisions.sort(key=lambda d: d[1])  # the store's order: by user, then time
            made = build_day_rows(node, day, decisions, {"exp": policy})[0]["exp"]
            rows += [{**r, "node_id": node} for r in made]
    return world, rows, logged


@pytest.fixture(scope="module")
def experiment() -> tuple[RetailWorld, list[dict[str, Any]], list[dict[str, Any]]]:
    return _experiment()


def test_results_land_on_the_simulators_truth(experiment: Any) -> None:
    world, rows, logged = experiment
    truth, revenue_truth = world.truth(), world.revenue_truth(CAP)
    res = measurement_results(rows, truth, revenue_truth=revenue_truth, decisions=logged)
    for part, expected in (("conversion", truth), ("revenue", revenue_truth)):
        offers = res[part]["offers"]
        assert set(offers) == set(expected["offers"])
        for arm, r in offers.items():
            true = expected["offers"][arm]["uplift"]
            assert r["true_uplift"] == true
            assert abs(r["uplift"] - true) < 4 * r["std_error"], (part, arm, r)
    assert 0.0 < min(r["noise_share"] for r in res["revenue"]["offers"].values()) < 1.0
    policies = res["ope"]["policies"]
    assert set(policies) == {"holdout", *truth["offers"]}
    for name, p in policies.items():
        true = truth["control_rate"] if name == "holdout" else truth["offers"][name]["rate"]
        assert p["true_value"] == true
        dr = p["estimates"]["dr"]
        half_width = (dr["ci_high"] - dr["ci_low"]) / 2
        assert abs(dr["value"] - true) < 2 * half_width, (name, dr, true)  # ~4 SE


def test_section_embeds_three_plots_and_plotly_only_when_asked(experiment: Any) -> None:
    world, rows, logged = experiment
    kwargs: dict[str, Any] = {"revenue_truth": world.revenue_truth(CAP), "decisions": logged}
    bare = measurement_section(rows, world.truth(), **kwargs)
    full = measurement_section(rows, world.truth(), include_plotlyjs=True, **kwargs)
    for page in (bare, full):
        assert page.startswith('<section id="measurement">') and page.endswith("</section>")
        assert page.count('class="plotly-graph-div"') == 3
        assert "<script src=" not in page and 'src="http' not in page  # offline
        assert "Not measured" not in page
    assert "* plotly.js v" not in bare  # the page that wires the section carries it
    assert full.count("* plotly.js v") == 1  # embedded once, in the first figure


def test_rows_from_old_nodes_and_decisions_without_outcomes_say_why(experiment: Any) -> None:
    world, rows, _ = experiment
    old = [{k: v for k, v in r.items() if k != "revenue_sq"} for r in rows]
    page = measurement_section(old, world.truth())
    assert page.count('class="plotly-graph-div"') == 1  # conversion still measured
    assert "older than revenue intervals" in page and "no outcome" in page
