"""The checks stage on the time-skipping server, with the REAL `run_check` activity.

Seed 000's three tiers run as separate activities at once: each tier's command
waits until all three have started (a barrier of files), so run one after the
other they would time out; the gate then decides the promotion.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import temporalio.activity
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.checks import run_check as real_run_check
from rollway.checks.models import CheckInput, CheckResult
from rollway.models import Outcome, PromotionInput, PromotionResult
from rollway.spec_loader import parse_pipeline
from tests.histories.record import save_history
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline
from tests.support.reports import cobertura_xml, junit_xml
from tests.support.temporal_servers import bounded
from workflows.promotion import PromotionWorkflow
from workflows.release_control import ReleaseControlWorkflow

TIERS = ("unit", "integration", "e2e")
BARRIER = """
import os, pathlib, sys, time
here = pathlib.Path(sys.argv[1]); tier = sys.argv[2]
(here / f"{tier}.started").write_text("")
deadline = time.monotonic() + 20
while not all((here / f"{t}.started").exists() for t in ("unit", "integration", "e2e")):
    if time.monotonic() > deadline:
        sys.exit(f"{tier}: the other tiers never started: not run in parallel")
    time.sleep(0.05)
reports = pathlib.Path(os.environ["REPORTS_DIR"])
(reports / "junit.xml").write_text(pathlib.Path(here / f"{tier}.junit").read_text())
(reports / "coverage.xml").write_text(pathlib.Path(here / "coverage.xml").read_text())
"""


class RealChecks(FakeWorld):
    def activities(self) -> list[Callable[..., Any]]:
        world = self

        @activity.defn(name="run_check")
        def run_check(inp: CheckInput) -> CheckResult:
            world.calls.append(f"check:{inp.suite.name}")
            return real_run_check(inp)

        fakes = [a for a in super().activities() if _name(a) != "run_check"]
        return [*fakes, run_check]


@asynccontextmanager
async def promoting(
    client: Client, world: FakeWorld, spec: dict[str, Any]
) -> AsyncIterator[WorkflowHandle[Any, PromotionResult]]:
    """Like tests/support/promotions.running, with a thread pool for the real sync activity."""
    queue = f"tq-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[PromotionWorkflow, ReleaseControlWorkflow],
            activities=world.activities(),
            activity_executor=executor,
        ):
            inp = PromotionInput(
                service="demo",
                version="v2",
                commit="abc1234",
                pipeline=parse_pipeline(spec),
                release_control=f"release-control-{queue}",
            )
            handle = await client.start_workflow(
                PromotionWorkflow.run, inp, id=f"promote-demo-{uuid.uuid4()}", task_queue=queue
            )
            try:
                yield handle
            finally:
                control = f"release-control-{queue}"
                for wf_id in (handle.id, control, f"{control}-staging"):
                    await bounded(client.get_workflow_handle(wf_id).terminate())


def seed_000_checks(
    tmp_path: Path, coverage: float, failing: dict[str, list[str]]
) -> dict[str, Any]:
    barrier = tmp_path / "barrier.py"
    barrier.write_text(BARRIER)
    for tier in TIERS:
        (tmp_path / f"{tier}.junit").write_text(junit_xml(10, failed=failing.get(tier, [])))
    (tmp_path / "coverage.xml").write_text(cobertura_xml(coverage))
    return {
        "suites": [
            {
                "name": tier,
                "command": [sys.executable, str(barrier), str(tmp_path), tier],
                "timeout": "2m",
                "junit": ["junit.xml"],
                **({"coverage": {"backend": "coverage.xml"}} if tier == "unit" else {}),
            }
            for tier in TIERS
        ],
        "coverage": {"backend": 85},
    }


@pytest.fixture(autouse=True)
def rollway_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLWAY_HOME", str(tmp_path / "home"))


async def test_three_tiers_run_in_parallel_before_staging(
    ts_client: Client, tmp_path: Path
) -> None:
    world = RealChecks()
    spec = pipeline(approval=None, checks=seed_000_checks(tmp_path, 88.0, {}))
    async with promoting(ts_client, world, spec) as h:
        result = await h.result()
        save_history(await h.fetch_history(), "timeskip-checks-promoted")
    assert result.outcome == Outcome.PROMOTED, result.reason
    assert sorted(c for c in world.calls if c.startswith("check:")) == [
        "check:e2e",
        "check:integration",
        "check:unit",
    ]
    checks_done = max(i for i, c in enumerate(world.calls) if c.startswith("check:"))
    assert world.calls.index("scan_gate") < checks_done < world.calls.index("deploy:staging")
    assert result.state is not None
    messages = [t.message for t in result.state.timeline]
    assert "coverage backend: 88.0% (minimum 85%)" in messages
    assert any(m.startswith("e2e: 10 tests, passed") for m in messages)


async def test_a_failing_tier_or_low_coverage_stops_before_staging(
    ts_client: Client, tmp_path: Path
) -> None:
    world = RealChecks()
    spec = pipeline(
        approval=None, checks=seed_000_checks(tmp_path, 84.0, {"e2e": ["test_checkout"]})
    )
    async with promoting(ts_client, world, spec) as h:
        result = await h.result()
    assert result.outcome == Outcome.FAILED
    assert result.reason == (
        "checks failed: e2e: 1 failed: tests.test_app::test_checkout; "
        "coverage of backend: 84.0% < 85%"
    )
    assert not any(c.startswith("deploy") for c in world.calls)


def _name(fn: Callable[..., Any]) -> str:
    """The activity name `fn` is registered under."""
    defn = temporalio.activity._Definition.from_callable(fn)
    assert defn is not None and defn.name
    return defn.name
