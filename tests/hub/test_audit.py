"""The audit log: every admin action is chained; verify finds an edited or deleted entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from edgemark.hub import HubSettings, verify_audit_chain, verify_audit_database
from edgemark.hub._audit import GENESIS, entry_hash

from ._support import ADMIN, bearer, enrol_node, heartbeat


def do_things(client: httpx.Client, make_bundle: Callable[..., bytes]) -> None:
    _, token = enrol_node(client, "store-1")
    client.post("/v1/bundles", content=make_bundle("v1"), headers=ADMIN)
    r = client.post("/v1/rollouts", json={"version": "v1", "waves": [100]}, headers=ADMIN)
    client.post(f"/v1/rollouts/{r.json()['id']}/pause", json={"reason": "lunch"}, headers=ADMIN)
    client.post(f"/v1/rollouts/{r.json()['id']}/resume", headers=ADMIN)
    heartbeat(client, token, "v1")
    client.post("/v1/nodes/store-1/revoke", headers=ADMIN)


def sql(settings: HubSettings, *statements: str) -> None:
    engine = create_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def drop_triggers(settings: HubSettings) -> None:
    """What someone with full database rights could do before tampering."""
    if settings.database_url.startswith("sqlite"):
        sql(settings, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")
    else:
        sql(settings, "DROP TRIGGER audit_log_append_only ON audit_log")


def test_every_action_is_recorded_in_a_valid_chain(
    client: httpx.Client, make_bundle: Callable[..., bytes], settings: HubSettings
) -> None:
    do_things(client, make_bundle)

    body = client.get("/v1/audit", headers=ADMIN).json()
    actions = [e["action"] for e in body["entries"]]

    assert actions == [
        "enrolment_token.create", "node.enrol", "bundle.upload", "rollout.start",
        "rollout.paused", "rollout.resumed", "rollout.completed", "node.revoke",
    ]  # fmt: skip
    assert body["entries"][0]["prev_hash"] == GENESIS
    assert body["head"]["seq"] == 8 and body["head"]["hash"] == body["entries"][-1]["hash"]
    assert client.get("/v1/audit/verify", headers=ADMIN).json() == {
        "ok": True, "entries": 8, "problem": None, "seq": None,
    }  # fmt: skip
    assert verify_audit_database(settings.database_url).ok
    page = client.get("/v1/audit", params={"after": 6, "limit": 1}, headers=ADMIN).json()
    assert [e["seq"] for e in page["entries"]] == [7]


def test_the_database_refuses_to_edit_the_log(
    client: httpx.Client, make_bundle: Callable[..., bytes], settings: HubSettings
) -> None:
    do_things(client, make_bundle)
    with pytest.raises(DBAPIError, match="append-only"):
        sql(settings, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")
    with pytest.raises(DBAPIError, match="append-only"):
        sql(settings, "DELETE FROM audit_log WHERE seq = 2")


@pytest.mark.parametrize(
    "statement,problem,seq",
    [
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", "entry 3 was edited", 3),
        ("UPDATE audit_log SET details = '{}' WHERE seq = 8", "entry 8 was edited", 8),
        ("DELETE FROM audit_log WHERE seq = 5", "entry 5 is missing", 5),
        ("DELETE FROM audit_log WHERE seq >= 7", "entries 7..8 at the end were deleted", 7),
    ],
)
def test_verify_says_where_the_log_was_changed(
    client: httpx.Client,
    make_bundle: Callable[..., bytes],
    settings: HubSettings,
    statement: str,
    problem: str,
    seq: int,
) -> None:
    do_things(client, make_bundle)
    drop_triggers(settings)

    sql(settings, statement)

    verdict = verify_audit_database(settings.database_url)
    assert not verdict.ok and verdict.seq == seq and problem in (verdict.problem or "")
    over_http = client.get("/v1/audit/verify", headers=ADMIN).json()
    assert over_http["ok"] is False and over_http["seq"] == seq


def test_a_rewritten_chain_still_fails_against_the_head() -> None:
    rows: list[dict[str, Any]] = []
    prev = GENESIS
    for seq in (1, 2, 3):
        row = {"seq": seq, "ts": 1.0, "actor": "a", "action": "x", "target": "t",
               "details": "{}", "prev_hash": prev}  # fmt: skip
        row["hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    assert verify_audit_chain(rows, (3, prev)).ok
    forged = [dict(r) for r in rows[:2]]
    forged[1]["actor"] = "mallory"
    forged[1]["hash"] = entry_hash(forged[0]["hash"], forged[1])  # recomputed by the forger

    verdict = verify_audit_chain(forged, (3, prev))

    assert not verdict.ok and verdict.seq == 3 and "deleted" in (verdict.problem or "")
    assert not verify_audit_chain(forged, (2, rows[1]["hash"])).ok  # head hash differs


def test_secrets_never_enter_the_log(client: httpx.Client) -> None:
    r = client.post("/v1/admin-tokens", json={"name": "ops", "scope": "read"}, headers=ADMIN)
    _, node_token = enrol_node(client, "store-1")
    entries = str(client.get("/v1/audit", headers=bearer(r.json()["token"])).json())
    assert r.json()["token"] not in entries and node_token not in entries
    assert r.json()["id"] in entries
