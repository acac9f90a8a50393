"""The hub's Flower ServerApp: DP-FedAvg over real SuperNodes, or one offer-rates release
(the same runs as ``edgemark.federated._flower``), recording every round in the hub's
privacy ledger.

Entry point ``edgemark.hub._flower_app:server_app``. The hub URL is the run config's
``hub-url``; the deploy-scope token is read only from the ServerApp process's environment
(``EDGEMARK_HUB_TOKEN``), never from the run config, which Flower stores and shows. When
the hub cannot record a round (after a few retries), the run stops: no further epsilon is
spent unrecorded, and ``edgemark fl record OUT`` posts the rounds of the result file later.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from edgemark.errors import ConfigError, HubError
from edgemark.federated._deploy import deployment_run_id, ledger_row
from edgemark.federated._flower_deploy import DeploymentPlan, deployment_plan, run_deployment
from edgemark.federated._flower_server import TrainingPlan
from edgemark.hub._ledger_client import fetch_privacy_ledger, record_federated_round
from edgemark.hub._settings import Secret

ENV_HUB_TOKEN = "EDGEMARK_HUB_TOKEN"
# Statuses worth another try: unreachable (0), timeouts, rate limits, a hub restarting.
TRANSIENT = frozenset({0, 408, 425, 429, 500, 502, 503, 504})
PostRound = Callable[[str, str, dict[str, Any]], dict[str, Any]]
Probe = Callable[[str, str], dict[str, Any]]
log = logging.getLogger(__name__)


@dataclass
class LedgerRecorder:
    """The round hook that records each round of run ``run_id`` in the hub's ledger.

    Transient failures are retried ``attempts`` times in all, waiting ``backoff_s``,
    then twice as long each time; a refusal, or a hub still unreachable, raises HubError,
    which stops the run.
    """

    hub_url: str
    token: Secret
    run_id: str
    attempts: int = 5
    backoff_s: float = 0.5
    post: PostRound = record_federated_round
    probe: Probe = fetch_privacy_ledger
    sleep: Callable[[float], None] = time.sleep

    def check(self) -> None:
        """Before round 1: the hub answers and takes the token (HubError otherwise)."""
        try:
            self._retried(lambda: self.probe(self.hub_url, self.token.reveal()))
        except HubError as exc:
            raise HubError(
                f"the hub at {self.hub_url} cannot record the rounds of {self.run_id}: {exc}. "
                f"No round was run; check hub-url and {ENV_HUB_TOKEN} (a deploy-scope token).",
                exc.status,
            ) from None

    def __call__(self, row: dict[str, Any]) -> None:
        body = ledger_row(self.run_id, row)
        try:
            self._retried(lambda: self.post(self.hub_url, self.token.reveal(), body))
        except HubError as exc:
            raise HubError(
                f"round {body['round']} of {self.run_id} was trained but the hub at "
                f"{self.hub_url} did not record it: {exc}. The run stops here, so that no "
                "further epsilon is spent unrecorded; once the hub is back, record the "
                "rounds of the run's result file with `edgemark fl record OUT --hub URL`.",
                exc.status,
            ) from None

    def _retried(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        attempt = 1
        while True:
            try:
                return call()
            except HubError as exc:
                if exc.status not in TRANSIENT or attempt >= self.attempts:
                    raise
                wait = self.backoff_s * 2 ** (attempt - 1)
                log.warning("hub: %s; retrying in %.1f s", exc, wait)
            self.sleep(wait)
            attempt += 1


def ledger_recorder(
    plan: DeploymentPlan, run_config: Mapping[str, Any], environ: Mapping[str, str], run_id: str
) -> LedgerRecorder:
    """The recorder of a run, or ConfigError before round 1: the run config needs
    ``hub-url``, DP (noise multiplier > 0), and the environment ``EDGEMARK_HUB_TOKEN``."""
    url = str(run_config.get("hub-url", "")).strip()
    if not url.startswith(("http://", "https://")):
        raise ConfigError(
            "the hub's ServerApp records every round in the hub's privacy ledger: set "
            f"hub-url in the run config to the hub's http(s) URL (got {url!r}), or use "
            "edgemark.federated._flower:server_app for a run outside the ledger"
        )
    # An offer-rates release always has DP: its noise is calibrated to its epsilon.
    if isinstance(plan, TrainingPlan) and any(v.cfg.noise_multiplier <= 0 for v in plan.variants):
        raise ConfigError(
            "noise-multiplier is 0: a run without DP has no finite epsilon, so the privacy "
            "ledger cannot record it; set noise-multiplier > 0 (see calibrate_noise)"
        )
    token = environ.get(ENV_HUB_TOKEN, "")
    if not token:
        raise ConfigError(
            f"{ENV_HUB_TOKEN} is not set in the ServerApp's environment: start the SuperLink "
            f"with {ENV_HUB_TOKEN}=<a deploy-scope admin token> (never in the run config, "
            "which Flower stores and shows)"
        )
    return LedgerRecorder(url, Secret(token), run_id)


def _main(grid: Grid, context: Context) -> None:
    plan = deployment_plan(context)
    run_id = deployment_run_id(context.run_id)
    recorder = ledger_recorder(plan, context.run_config, os.environ, run_id)
    recorder.check()
    run_deployment(grid, context, plan, recorder)


server_app = ServerApp()
server_app.main()(_main)
