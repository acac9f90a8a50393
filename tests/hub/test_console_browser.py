"""The console in a real browser: Debian's Chromium driven by Playwright (no browser download).

Log in with the keyboard, see the fleet, pause and resume a rollout, see the audit entries
appear, and get refused an action with a read-only token. Each page is photographed
(1280x800, and the fleet at tablet width) into $EDGEMARK_CONSOLE_SHOTS, which is how
docs/console/ is refreshed (`EDGEMARK_CONSOLE_SHOTS=docs/console`), else into the artifacts
dir, so a test run leaves the work tree clean; a failing test leaves a screenshot in
$EDGEMARK_TEST_ARTIFACTS (default /tmp/edgemark-artifacts/console).
In CI (CI=true) a missing Chromium fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgemark.hub import ServerThread

from ._console_support import Fleet, make_fleet, send_reports
from ._support import ADMIN_TOKEN, bearer

pytestmark = pytest.mark.slow
ARTIFACTS = Path(os.environ.get("EDGEMARK_TEST_ARTIFACTS", "/tmp/edgemark-artifacts")) / "console"
SHOTS = Path(os.environ.get("EDGEMARK_CONSOLE_SHOTS") or ARTIFACTS / "pages")
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "Chromium is not installed (apt-get install chromium; .ci/run does it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        launched = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(params=["sqlite"])
def database_url(tmp_path: Path) -> str:  # one backend is enough for the browser
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def fleet(client: httpx.Client, make_bundle: Callable[..., bytes]) -> Fleet:
    made = make_fleet(client, make_bundle, nodes=6)
    rng = random.Random(7)
    for i, token in enumerate(made.node_tokens.values()):
        health = {
            "version": "v1",
            "decisions": 5000,
            "errors": rng.randint(0, 5),
            "decide_p99_us": rng.uniform(150, 900),
            "drift_psi": rng.uniform(0.01, 0.3),
        }
        client.post("/v1/heartbeats", headers=bearer(token), json={
            "active_version": "v1", "decisions_by_version": {"v1": 5000},
            "latency_p50_us": 60.0, "latency_p99_us": health["decide_p99_us"], "health": health,
        })  # fmt: skip
        rows = [
            {"idempotency_key": f"n{i}-d{day}-{arm}", "day": day, "experiment": "exp1",
             "arm": arm, "exposures": 400, "conversions": int(400 * rate) + rng.randint(-4, 4),
             "revenue": 1000.0, "epsilon": 0.5, "count_noise_scale": 2.0,
             "revenue_noise_scale": 100.0}
            for day in range(3) for arm, rate in (("holdout", 0.08), ("pct10", 0.12),
                                                   ("pct20", 0.09))
        ]  # fmt: skip
        send_reports(client, token, rows)
    return made


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@contextmanager
def photos_on_failure(page: Any, name: str) -> Iterator[None]:
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
        raise


def _photo(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _log_in(page: Any, base: str, token: str) -> None:
    page.goto(f"{base}/console/fleet")
    page.get_by_role("link", name="Log in with an admin token").click()
    page.wait_for_url(f"{base}/console/login")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'token'")
    page.keyboard.type(token)  # the token field has focus: keyboard only
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/fleet")


def test_operator_logs_in_pauses_and_resumes_a_rollout(
    hub: ServerThread, fleet: Fleet, new_page: Callable[..., Any]
) -> None:
    page = new_page()
    with photos_on_failure(page, "pause-resume"):
        page.goto(f"{hub.url}/console/login")
        _photo(page, "login")
        _log_in(page, hub.url, ADMIN_TOKEN)
        assert page.get_by_role("cell", name="store-5", exact=True).is_visible()
        page.wait_for_selector("#versions .main-svg")  # Plotly drew the chart from the hub
        _photo(page, "fleet")
        page.get_by_role("link", name="Rollouts", exact=True).click()
        _photo(page, "rollouts")
        page.get_by_role("link", name=fleet.rollout_id).first.click()
        page.get_by_role("link", name="Pause…").click()
        page.get_by_label("Reason").fill("canary looks slow")
        _photo(page, "rollout-confirm")
        page.get_by_role("button", name="Yes, pause").click()
        assert page.get_by_text("Rollout paused.").is_visible()
        assert page.get_by_text("paused by bootstrap: canary looks slow").is_visible()
        _photo(page, "rollout")
        page.get_by_role("link", name="Audit", exact=True).click()
        assert page.get_by_role("cell", name="rollout.paused").is_visible()
        assert page.get_by_text("The chain verifies").is_visible()
        page.go_back()
        page.get_by_role("link", name="Resume…").click()
        page.get_by_role("button", name="Yes, resume").click()
        assert page.get_by_text("Rollout resumed.").is_visible()
        page.get_by_role("link", name="Audit", exact=True).click()
        assert page.get_by_role("cell", name="rollout.resumed").is_visible()
        _photo(page, "audit")


def test_every_page_renders_at_desktop_and_tablet_width(
    hub: ServerThread, fleet: Fleet, new_page: Callable[..., Any]
) -> None:
    page = new_page()
    with photos_on_failure(page, "pages"):
        _log_in(page, hub.url, ADMIN_TOKEN)
        for name in ("experiments", "privacy", "bundles", "bundles/v2"):
            page.goto(f"{hub.url}/console/{name}")
            assert page.locator("h1").is_visible()
            _photo(page, name.replace("/", "-"))
        page.goto(f"{hub.url}/console/experiments")
        page.wait_for_selector("[id^=uplift-] .main-svg")
        _photo(page, "experiments")
        tablet = new_page(TABLET)
        _log_in(tablet, hub.url, ADMIN_TOKEN)
        wide = tablet.evaluate("document.documentElement.scrollWidth")
        assert wide <= TABLET["width"], f"the fleet page scrolls sideways at {wide}px"
        _photo(tablet, "fleet-tablet")


def test_the_console_is_usable_with_the_keyboard(
    hub: ServerThread, fleet: Fleet, new_page: Callable[..., Any]
) -> None:
    page = new_page()
    with photos_on_failure(page, "keyboard"):
        _log_in(page, hub.url, ADMIN_TOKEN)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
        page.goto(f"{hub.url}/console/fleet")
        for _ in range(3):  # skip link, brand is not focusable, then Fleet and Rollouts
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Rollouts"
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid"  # a visible focus ring
        page.keyboard.press("Enter")
        page.wait_for_url(f"{hub.url}/console/rollouts")


def test_a_read_only_token_is_refused_an_action(
    hub: ServerThread, fleet: Fleet, new_page: Callable[..., Any]
) -> None:
    page = new_page()
    with photos_on_failure(page, "read-only"):
        _log_in(page, hub.url, fleet.read_token)
        page.goto(f"{hub.url}/console/rollouts/{fleet.rollout_id}")
        assert page.get_by_text("Read-only: your token has the read scope").is_visible()
        assert page.get_by_role("link", name="Pause…").count() == 0
        answer = page.goto(f"{hub.url}/console/rollouts/{fleet.rollout_id}/pause")
        assert answer is not None and answer.status == 403
        assert page.get_by_role("heading", name="Not allowed").is_visible()
        _photo(page, "forbidden")
