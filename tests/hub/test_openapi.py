"""The served OpenAPI spec, and a schemathesis run against a live hub: no 5xx, no response
that breaks the spec, for an admin and for a node."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from edgemark.hub import HubSettings, Secret, ServerThread

from ._support import ADMIN, ADMIN_TOKEN, bearer, enrol_node

schemathesis = pytest.importorskip("schemathesis")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root: Path = tmp_path_factory.mktemp("hub-openapi")
    hub_settings = HubSettings(
        Secret(ADMIN_TOKEN), database_url=f"sqlite:///{root / 'hub.db'}",
        bundle_dir=root / "bundles", rate_limit_per_s=1e6, rate_limit_burst=10**6,
    )  # fmt: skip
    with ServerThread(hub_settings) as hub, httpx.Client(base_url=hub.url) as client:
        _, token = enrol_node(client, "store-1")
        yield hub.url, token


def test_the_spec_is_served_and_names_every_route(live: tuple[str, str]) -> None:
    url, _ = live
    spec = httpx.get(f"{url}/openapi.json").json()
    assert spec["info"]["title"] == "edgemark hub"
    for path in ("/v1/heartbeats", "/v1/rollouts/{rollout_id}/pause", "/v1/nodes/{node}/revoke",
                 "/v1/audit", "/v1/admin-tokens", "/v1/assignment"):  # fmt: skip
        assert path in spec["paths"], path
    post = spec["paths"]["/v1/rollouts"]["post"]
    assert {"401", "403", "409", "422", "429"} <= set(post["responses"])
    assert httpx.get(f"{url}/docs").status_code == 200


@pytest.mark.parametrize("who", ["admin", "node"])
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    live: tuple[str, str], who: str
) -> None:
    from schemathesis.checks import positive_data_acceptance

    url, node_token = live
    headers = ADMIN if who == "admin" else bearer(node_token)
    from schemathesis.config import SchemathesisConfig

    # An explicit config: no search for schemathesis.toml from the working directory.
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=SchemathesisConfig())
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        label = operation.label

        @settings(max_examples=30, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            try:
                # Schema-valid but unknown ids, versions or tokens are rightly refused with
                # a documented 4xx, so "positive data acceptance" does not apply here.
                case.call_and_validate(
                    base_url=url, headers=headers, excluded_checks=[positive_data_acceptance]
                )
            except Exception as exc:  # collect every operation's first failure
                failures.setdefault(label, str(exc)[:800])  # noqa: B023 (run() runs here)

        run()

    assert failures == {}
