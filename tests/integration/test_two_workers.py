"""Workers are stateless and scale horizontally: kill one mid-canary, the other finishes.

Two real OS processes run the real worker entry point (`python -m workers.main`,
real activities) on task queue `rollway` against the local stack (Temporal dev
server, HAProxy, Prometheus). A canary promotion runs under live traffic; while
it soaks, the worker holding the workflow (the one that completed the last
workflow task) is SIGKILLed. The promotion must end `promoted` at 100 %, and the
history must show the second worker completing the work after the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from rollway import TASK_QUEUE, stack
from rollway.models import Outcome, PromotionInput, PromotionResult
from rollway.platform.base import Target
from rollway.platform.local import LocalPlatform
from rollway.spec import PipelineSpec
from tests.support.binaries import ROOT
from tests.support.local_stack import fast_pipeline
from workers.main import connect
from workflows.promotion import PromotionWorkflow

SERVICE = "scale"  # its own HAProxy backend and versions: independent of the demo's tests
PRODUCTION = Target(service=SERVICE, environment="production")
HOST = os.uname().nodename


def identity(proc: subprocess.Popen[bytes]) -> str:
    """The SDK's default worker identity: `<pid>@<hostname>`."""
    return f"{proc.pid}@{HOST}"


@pytest.fixture
def workers(stack_home: Path, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two `python -m workers.main` processes; both killed (and reaped) at the end."""
    env = {**os.environ, "ROLLWAY_HOME": str(stack_home)}
    env.pop("ROLLWAY_TEMPORAL_ADDRESS", None)
    procs = []
    try:
        for i in range(2):
            log = (tmp_path / f"worker-{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "workers.main"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)


async def wait_polling(client: Client, procs: list[subprocess.Popen[bytes]], log_dir: Path) -> None:
    """Both workers poll the task queue (their identities show in its pollers)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    want = {identity(p) for p in procs}
    deadline = time.monotonic() + 240  # a loaded 2-core CI box: imports alone take 30 s
    while time.monotonic() < deadline:
        for p in procs:
            assert p.poll() is None, f"worker {p.pid} exited with {p.returncode}"
        resp = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        seen = {poller.identity for poller in resp.pollers}
        if want <= seen:
            return
        await asyncio.sleep(0.5)
    logs = "\n".join(f.read_text()[-2000:] for f in sorted(log_dir.glob("worker-*.log")))
    raise AssertionError(f"workers {want} never polled {TASK_QUEUE} (pollers: {seen}):\n{logs}")


def spec() -> PipelineSpec:
    s = fast_pipeline()
    s.service = SERVICE
    s.approval = None  # nobody to ask: the canary is what this test is about
    # A loaded 2-core box can leave Prometheus without samples for a while: wait for
    # data rather than pause for a human (the judge's own tests cover inconclusive).
    s.canary.analysis.inconclusive_limit = 60
    return s


@asynccontextmanager
async def traffic(url: str, stats: Path, rps: int = 50) -> AsyncIterator[Path]:
    """examples/demo/loadgen.py against the service, flowing before the body runs."""
    loadgen = str(ROOT / "examples" / "demo" / "loadgen.py")
    proc = subprocess.Popen(
        [sys.executable, loadgen, url, "--rps", str(rps), "--stats", str(stats)]
    )
    try:
        deadline = time.monotonic() + 60
        while not (stats.exists() and json.loads(stats.read_text()).get("sent", 0) > 0):
            assert proc.poll() is None and time.monotonic() < deadline, "no traffic flows"
            await asyncio.sleep(0.2)
        yield stats
    finally:
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def start(client: Client, version: str, control: str) -> WorkflowHandle[Any, PromotionResult]:
    commit = uuid.uuid4().hex[:12]
    return await client.start_workflow(
        PromotionWorkflow.run,
        PromotionInput(
            service=SERVICE,
            version=version,
            commit=commit,
            pipeline=spec(),
            pipeline_dir=str(ROOT / "pipelines"),
            requested_by="pytest",
            release_control=control,
        ),
        id=f"promote-{SERVICE}-{commit}",
        task_queue=TASK_QUEUE,
    )


async def last_workflow_task_identity(handle: WorkflowHandle[Any, Any]) -> str:
    identity = ""
    async for e in handle.fetch_history_events():
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            identity = e.workflow_task_completed_event_attributes.identity
    return identity


async def finish_or_explain(
    h: WorkflowHandle[Any, PromotionResult], timeout: float, log_dir: Path, plat: LocalPlatform
) -> PromotionResult:
    """The result; or the timeline, the pending activities and the workers' logs."""
    try:
        return await asyncio.wait_for(h.result(), timeout)
    except TimeoutError:
        state = await h.query(PromotionWorkflow.query_state)
        desc = await h.describe()
        lines = [f"{e.at:%H:%M:%S} {e.stage} {e.message}" for e in state.timeline[-30:]]
        lines += [
            f"pending {a.activity_type.name} attempt {a.attempt} on {a.last_worker_identity}: "
            f"{a.last_failure.message}"
            for a in desc.raw_description.pending_activities
        ]
        lines.append(f"platform: {plat.status(PRODUCTION).model_dump_json()}")
        lines += [f.read_text()[-3000:] for f in sorted(log_dir.glob("worker-*.log"))]
        raise AssertionError(f"not finished in {timeout}s:\n" + "\n".join(lines)) from None


@pytest.mark.timeout(900)
async def test_killing_a_worker_mid_canary_the_other_finishes(
    stack_home: Path, workers: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    client = await connect(stack.temporal_address(stack_home))
    await wait_polling(client, workers, tmp_path)
    control = f"release-control-two-workers-{uuid.uuid4().hex[:8]}"
    try:
        # v1: the service's first version goes straight to 100 % (both workers alive).
        first = await start(client, "v1", control)
        result = await asyncio.wait_for(first.result(), 180)
        assert result.outcome == Outcome.PROMOTED, result.reason

        plat = LocalPlatform(stack_home, spec().run)  # type: ignore[arg-type]
        url = plat.status(PRODUCTION).frontend_url
        assert url is not None
        async with traffic(url, stack_home / "load-two-workers.json") as stats_file:
            h = await start(client, "v2", control)
            for _ in range(600):  # mid-canary: traffic on the canary, soaking
                state = await h.query(PromotionWorkflow.query_state)
                c = state.canary
                if (
                    c is not None
                    and c.weight > 0
                    and c.analyses
                    and c.analyses[-1].status == "pass"
                ):
                    break  # metrics flow and the canary soaks: kill now
                assert state.outcome == Outcome.RUNNING, state.reason
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"no passing canary analysis: {state.timeline[-3:]}")
            holder = await last_workflow_task_identity(h)
            victim = next(p for p in workers if identity(p) == holder)
            survivor = next(p for p in workers if p is not victim)
            killed_at = datetime.now(UTC)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            assert state.canary is not None
            killed_at_weight = state.canary.weight
            result = await finish_or_explain(h, 300, tmp_path, plat)

        assert result.outcome == Outcome.PROMOTED, result.reason
        status = plat.status(PRODUCTION)
        assert status.stable is not None and status.stable.version == "v2"
        assert status.stable.weight == 100 and status.canary is None
        assert survivor.poll() is None, "the surviving worker must still run"
        # The service never noticed: its processes are not the workers' children.
        stats = json.loads(stats_file.read_text())
        assert stats.get("connection_errors", 0) == 0 and stats.get("status_503", 0) == 0, stats
        assert stats["version_v2"] > 0, stats

        # The history: the victim worked before the kill, only the survivor after it.
        before: set[str] = set()
        after: list[tuple[str, str]] = []
        async for e in h.fetch_history_events():
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                kind, who = "workflow task", e.workflow_task_completed_event_attributes.identity
            elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                kind, who = "activity", e.activity_task_completed_event_attributes.identity
            else:
                continue
            if e.event_time.ToDatetime(tzinfo=UTC) < killed_at:
                before.add(who)
            else:
                after.append((kind, who))
        assert identity(victim) in before, before
        assert after and {who for _, who in after} == {identity(survivor)}, after
        assert ("activity", identity(survivor)) in after
        print(
            f"\nkilled {identity(victim)} at canary {killed_at_weight}%; "
            f"{identity(survivor)} finished it"
        )
    finally:
        for wf in (control, f"{control}-staging"):
            with suppress(RPCError):
                await client.get_workflow_handle(wf).terminate()
