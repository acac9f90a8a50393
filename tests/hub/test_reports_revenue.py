"""Report rows with and without the squared-revenue columns (agreement E): both are accepted
and read back, and migrating a database that already holds rows keeps them."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from edgemark.hub._db import create_engine_for
from edgemark.hub._migrate import upgrade

from ._support import ADMIN, bearer, enrol_node
from .test_reports import row

NEW = {"revenue_sq": 81234.5, "revenue_sq_noise_scale": 2.5e5, "max_contributions": 1}


def test_new_and_old_rows_are_both_stored(client: httpx.Client) -> None:
    _, token = enrol_node(client, "store-1")
    batch = {"reports": [row(arm="pct10", **NEW), row(arm="holdout")]}

    r = client.post("/v1/reports", json=batch, headers=bearer(token))

    assert r.json() == {"stored": 2, "duplicates": 0}
    stored = {s["arm"]: s for s in client.get("/v1/reports", headers=ADMIN).json()["reports"]}
    assert {k: stored["pct10"][k] for k in NEW} == NEW
    assert {k: stored["holdout"][k] for k in NEW} == dict.fromkeys(NEW)


def test_invalid_new_fields_are_refused(client: httpx.Client) -> None:
    _, token = enrol_node(client, "store-1")
    for bad in ({"max_contributions": 0}, {"revenue_sq_noise_scale": -1.0}, {"revenue_sq": "x"}):
        r = client.post("/v1/reports", json={"reports": [row(**bad)]}, headers=bearer(token))
        assert r.status_code == 422, bad


def test_upgrade_keeps_rows_stored_before_r0002(database_url: str) -> None:
    engine = create_engine_for(database_url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO nodes (id, name, token_sha256, enrolled_at, heartbeats,"
                    " decisions_by_version) VALUES ('n1', 'store-1', 'h', 0, 0, '{}')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO reports (idempotency_key, node_id, day, experiment, arm,"
                    " exposures, conversions, revenue, epsilon, count_noise_scale,"
                    " revenue_noise_scale, received_at)"
                    " VALUES ('k1', 'n1', 3, 'e', 'holdout', 10, 1, 5.0, 1.0, 3.0, 9.0, 0)"
                )
            )
        upgrade(engine)
        with engine.connect() as conn:
            got = conn.execute(
                text("SELECT exposures, revenue_sq, max_contributions FROM reports")
            ).all()
        assert [tuple(g) for g in got] == [(10, None, None)]
    finally:
        engine.dispose()
