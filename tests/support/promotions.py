"""Promotion helpers for workflow tests: a small pipeline, the `state` query, waits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

from temporalio.activity import _Definition as activity_definition
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.worker import Worker

from rollway.models import PromotionInput, PromotionResult, PromotionState
from rollway.spec_loader import parse_pipeline
from tests.support.fake_world import FakeWorld
from tests.support.temporal_servers import bounded
from workflows.promotion import PromotionWorkflow
from workflows.release_control import ReleaseControlWorkflow


def activity_name(fn: Callable[..., Any]) -> str:
    defn = activity_definition.from_callable(fn)
    assert defn is not None and defn.name, f"{fn} is not an activity"
    return defn.name


def pipeline(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "service": "demo",
        "owners": ["demo-owners"],
        # Workflow tests send unsigned decisions (tests/security/ signs them).
        "environments": {
            "staging": {},
            "production": {"policy": {"unsigned_decisions": "accepted"}},
        },
        "run": {"command": ["python", "app.py"]},
        "build": {"command": ["./build.sh"]},
        "scan": {"reports": ["bandit.sarif"]},
        "staging": {"smoke": [{"path": "/healthz"}]},
        "approval": {"required": 1},
        "canary": {
            "steps": [
                {"weight": 5, "soak": "15m"},
                {"weight": 25, "soak": "15m"},
                {"weight": 50, "soak": "15m"},
            ],
            "analysis": {
                "interval": "1m",
                "failure_limit": 2,
                "inconclusive_limit": 3,
                "metrics": [
                    {"name": "success-rate", "template": "haproxy-success-rate", "min": 0.99}
                ],
            },
        },
    }
    spec.update(overrides)
    return spec


async def query_state(handle: WorkflowHandle[Any, Any]) -> PromotionState:
    """The `state` query, retried: the test server can drop a query that races a task."""
    for _ in range(20):
        try:
            return await asyncio.wait_for(handle.query(PromotionWorkflow.query_state), 10)
        except (RPCError, TimeoutError):
            await asyncio.sleep(0.1)
    raise AssertionError("the state query never answered")


async def wait_until(
    handle: WorkflowHandle[Any, Any], ok: Callable[[PromotionState], bool]
) -> PromotionState:
    for _ in range(100):
        await asyncio.sleep(0.3)
        state = await query_state(handle)
        if ok(state):
            return state
    raise AssertionError(f"condition never met; stage {state.stage}")


async def wait_stage(handle: WorkflowHandle[Any, Any], stage: str) -> None:
    await wait_until(handle, lambda s: s.stage.value == stage)


@asynccontextmanager
async def running(
    client: Client,
    world: FakeWorld,
    spec: dict[str, Any],
    real: Sequence[Callable[..., Any]] = (),
) -> AsyncIterator[WorkflowHandle[Any, PromotionResult]]:
    """Run one promotion of `spec`; `real` activities replace the fakes of the same name."""
    queue = f"tq-{uuid.uuid4()}"
    replaced = {activity_name(fn) for fn in real}
    fakes = [fn for fn in world.activities() if activity_name(fn) not in replaced]
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[PromotionWorkflow, ReleaseControlWorkflow],
            activities=[*fakes, *real],
            activity_executor=executor if real else None,
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
                # Nothing left running with a pending task (its worker gone); bounded.
                control = f"release-control-{queue}"
                for wf_id in (handle.id, control, f"{control}-staging"):
                    await bounded(client.get_workflow_handle(wf_id).terminate())
