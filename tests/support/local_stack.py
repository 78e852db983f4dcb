"""The real local stack for integration tests: `rollway up` in a temporary home.

Temporal dev server, Prometheus and HAProxy are started by `rollway.stack.up`
(the same code `rollway up` runs); the worker runs in-process with the real
activities so a failure shows its traceback here. The home is registered with
the reaper before `up`, so the stack is stopped however the run ends.
tests/integration/conftest.py imports the fixtures; the helpers drive
promotions and traffic on it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from rollway import stack
from rollway.models import ApprovalInput, Outcome, PromotionInput, PromotionResult, PromotionState
from rollway.platform.base import Target
from rollway.platform.local import LocalPlatform
from rollway.spec import PipelineSpec
from rollway.spec_loader import load_pipeline
from tests.support import reaper
from tests.support.binaries import ROOT, require_binary
from tests.support.fake_world import DEV_CATALOG
from workers.main import build_worker, connect
from workflows.promotion import PromotionWorkflow


@dataclass
class LocalStack:
    home: Path
    client: Client
    task_queue: str


@pytest.fixture(scope="session")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    require_binary("haproxy", "apt-get install -y haproxy (./dev installs it)")
    require_binary("prometheus", "apt-get install -y prometheus (./dev installs it)")
    home = tmp_path_factory.mktemp("rollway-home")
    old = os.environ.get("ROLLWAY_HOME")
    os.environ["ROLLWAY_HOME"] = str(home)
    os.environ.pop("ROLLWAY_PROMETHEUS_URL", None)
    registered = reaper.home(home)
    # The worker's groups file: the people these tests roll back, abort and pause as own
    # the demo service (`owners: [demo-owners]` in pipelines/demo.yaml).
    (home / "groups.yaml").write_text("groups:\n  demo-owners: [pytest, ops, ci-bot, bench]\n")
    try:
        stack.up(home, worker=False)
        yield home
    finally:
        stack.down(home)
        reaper.forget(registered)
        if old is None:
            os.environ.pop("ROLLWAY_HOME", None)
        else:
            os.environ["ROLLWAY_HOME"] = old


@pytest.fixture(scope="session")
async def local_stack(stack_home: Path) -> AsyncIterator[LocalStack]:
    client = await connect(stack.temporal_address(stack_home))
    queue = f"rollway-it-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=64) as executor:
        # a development worker: the tests send faster inline variants of pipelines/demo.yaml
        async with build_worker(client, executor, task_queue=queue, catalog=DEV_CATALOG):
            yield LocalStack(home=stack_home, client=client, task_queue=queue)


def fast_pipeline() -> PipelineSpec:
    """The demo pipeline with soaks short enough for a test."""
    spec = load_pipeline(ROOT / "pipelines" / "demo.yaml")
    spec.canary.steps[0].weight, spec.canary.steps[0].soak = 20, timedelta(seconds=8)
    spec.canary.steps[1].weight, spec.canary.steps[1].soak = 50, timedelta(seconds=6)
    spec.canary.steps = spec.canary.steps[:2]
    spec.canary.analysis.interval = timedelta(seconds=2)
    spec.canary.analysis.initial_delay = timedelta(seconds=3)
    for m in spec.canary.analysis.metrics:
        m.min_samples = 15
    return spec


async def promote(
    stack: LocalStack, version: str, spec: PipelineSpec
) -> WorkflowHandle[Any, PromotionResult]:
    commit = uuid.uuid4().hex[:12]
    return await stack.client.start_workflow(
        PromotionWorkflow.run,
        PromotionInput(
            service="demo",
            version=version,
            commit=commit,
            pipeline=spec,
            pipeline_dir=str(ROOT / "pipelines"),
            requested_by="pytest",
        ),
        id=f"promote-demo-{commit}",
        task_queue=stack.task_queue,
    )


async def approve_when_asked(client: Client, handle: WorkflowHandle[Any, Any]) -> PromotionState:
    for _ in range(600):
        state = await handle.query(PromotionWorkflow.query_state)
        if state.stage.value == "approval":
            approved: PromotionState = await handle.execute_update(
                "approve", ApprovalInput(by="pytest", comment="ok"), result_type=PromotionState
            )
            return approved
        if state.outcome != Outcome.RUNNING:
            raise AssertionError(f"ended before approval: {state.reason}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"never reached approval: {state.model_dump_json(indent=1)}")


async def finish(
    handle: WorkflowHandle[Any, PromotionResult], timeout: float = 120
) -> PromotionResult:
    """The result, or the state's timeline in the failure message."""
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        state = await handle.query(PromotionWorkflow.query_state)
        lines = "\n".join(f"{e.at:%H:%M:%S} {e.stage} {e.message}" for e in state.timeline)
        raise AssertionError(f"promotion did not finish in {timeout}s:\n{lines}") from None


@asynccontextmanager
async def load(url: str, stats: Path, rps: int = 50) -> AsyncIterator[Path]:
    """The demo load generator on `url`, in its own process group, registered with the reaper."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "examples" / "demo" / "loadgen.py"),
            url,
            "--rps",
            str(rps),
            "--stats",
            str(stats),
        ],
        start_new_session=True,
    )
    registered = reaper.group(proc.pid)
    try:
        await asyncio.sleep(1.5)
        yield stats
    finally:
        proc.terminate()  # it exits within 3 s of SIGTERM, stats written
        try:
            await asyncio.to_thread(proc.wait, 10)
        finally:
            reaper.reap({registered})
            reaper.forget(registered)


def platform(stack: LocalStack, spec: PipelineSpec) -> LocalPlatform:
    assert spec.run is not None
    return LocalPlatform(stack.home, spec.run)


PRODUCTION = Target(service="demo", environment="production")
