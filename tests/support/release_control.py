"""Release-control runs on a time-skipping server: a worker with fake activities,
the release-control workflow, and skipping to a given local time in New York.

Time only moves forward on a server, so a date-dependent test takes a server of
its own (`own_ts_env`) and skips from there.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from rollway.models import PromotionInput, PromotionResult
from rollway.release_control import ControlSnapshot
from rollway.spec_loader import parse_pipeline
from tests.support.fake_world import FakeWorld
from tests.support.promotions import pipeline
from tests.support.temporal_servers import bounded
from workflows.promotion import PromotionWorkflow
from workflows.release_control import ReleaseControlWorkflow

NY = ZoneInfo("America/New_York")


MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


GROUPS = {
    "release-managers": ["rm-ann", "rm-bob", "rm-cat"],
    "vp-engineering": ["vp-carol"],
    "team-lead": ["tl-tina"],
    "release-manager": ["relmgr-rita"],
    "on-call": ["pager", "ic-ivy"],
    "demo-owners": ["alice", "bob", "carol", "dave", "eve", "ops", "chaos"],
}


@dataclass
class Run:
    client: Client
    queue: str
    control: str
    world: FakeWorld
    started: list[str]

    async def start(
        self, spec: dict[str, Any] | None = None, *, pipeline_name: str | None = None, **kw: Any
    ) -> WorkflowHandle[Any, PromotionResult]:
        """Promote with an inline `spec` (the world's worker is a development one), or the
        catalog's `pipeline_name` (the repo's pipelines/, loaded by the real catalog code)."""
        commit = kw.pop("commit", uuid.uuid4().hex[:12])
        service = kw.pop("service", spec["service"] if spec else pipeline_name)
        inp = PromotionInput(
            service=service,
            version=kw.pop("version", "v2"),
            commit=commit,
            pipeline=parse_pipeline(spec) if spec is not None else None,
            pipeline_name=pipeline_name,
            release_control=self.control,
            **kw,
        )
        handle = await self.client.start_workflow(
            PromotionWorkflow.run, inp, id=f"promote-{service}-{commit}", task_queue=self.queue
        )
        self.started.append(handle.id)
        return handle

    async def control_update(self, name: str, arg: Any) -> ControlSnapshot:
        await self.client.start_workflow(
            "ReleaseControlWorkflow",
            {"snapshot": {"environment": "production"}},
            id=self.control,
            task_queue=self.queue,
            id_conflict_policy=__import__(
                "temporalio.common"
            ).common.WorkflowIDConflictPolicy.USE_EXISTING,
        )
        handle = self.client.get_workflow_handle(self.control)
        snapshot: ControlSnapshot = await handle.execute_update(
            name, arg, result_type=ControlSnapshot
        )
        return snapshot


@asynccontextmanager
async def release_run(
    env: WorkflowEnvironment,
    world: FakeWorld | None = None,
    real: Sequence[Callable[..., Any]] = (),
) -> AsyncIterator[Run]:
    """A worker over `world` (default: a fresh one with GROUPS); `real` activities replace
    the same-named fakes (e.g. the real `build`, so a command really runs)."""
    queue = f"tq-{uuid.uuid4()}"
    world = world or FakeWorld(groups=GROUPS)
    names = {activity._Definition.must_from_callable(fn).name for fn in real}
    fakes = [
        fn
        for fn in world.activities()
        if activity._Definition.must_from_callable(fn).name not in names
    ]
    with ThreadPoolExecutor(max_workers=4) as executor:
        async with _worker(env, queue, world, [*fakes, *real], executor) as run:
            yield run


@asynccontextmanager
async def _worker(
    env: WorkflowEnvironment,
    queue: str,
    world: FakeWorld,
    activities: list[Callable[..., Any]],
    executor: ThreadPoolExecutor,
) -> AsyncIterator[Run]:
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[PromotionWorkflow, ReleaseControlWorkflow],
        activities=activities,
        activity_executor=executor,
    ):
        run = Run(env.client, queue, f"release-control-{queue}", world, [])
        try:
            yield run
        finally:
            # Anything left running (a failed test) would keep its worker's tasks pending;
            # bounded, so a server that is gone cannot hang the teardown.
            for wf_id in [*run.started, run.control, f"{run.control}-staging"]:
                await bounded(env.client.get_workflow_handle(wf_id).terminate())


async def skip_to(
    env: WorkflowEnvironment,
    weekday: int,
    hour: int,
    minute: int = 0,
    after: datetime | None = None,
) -> datetime:
    """Skip server time to the next `weekday` `hour:minute` in New York; returns it."""
    now = await env.get_current_time()
    local = (after or now).astimezone(NY)
    target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    target += timedelta(days=(weekday - local.weekday()) % 7)
    if target <= local + timedelta(minutes=1):
        target += timedelta(days=7)
    target = target.replace(tzinfo=NY)  # wall-clock time, offset recomputed for that date
    await env.sleep(target - now)
    return target


SEED_000 = {  # business hours Mon-Thu 09-16 NY, quarter-end freeze, 2 approvals, emergency path
    "windows": [
        {"days": "mon-thu", "start": "09:00", "end": "16:00", "timezone": "America/New_York"}
    ],
    "freezes": [{"kind": "last-week-of-quarter", "timezone": "America/New_York"}],
    "approvals": {"required": 2, "groups": ["release-managers"]},
    "emergency": {"severities": ["SEV-1"]},
}

SEED_004 = {  # anytime Mon-Thu, Friday needs a VP, SEV-1/2 lock, hotfix with a team lead
    "windows": [
        {"days": "mon-fri", "start": "00:00", "end": "24:00", "timezone": "America/New_York"}
    ],
    "extra_approvals": [
        {
            "days": "fri",
            "timezone": "America/New_York",
            "group": "vp-engineering",
            "count": 1,
            "reason": "Friday deploy",
        }
    ],
    "freezes": [{"kind": "incident", "severities": ["SEV-1", "SEV-2"]}],
    "hotfix": {"group": "team-lead", "count": 1},
}


def policy_pipeline(policy: dict[str, Any], steps: int = 2) -> dict[str, Any]:
    spec = pipeline(approval=None, staging=None, scan=None)
    spec["environments"] = {
        "staging": {},
        "production": {"policy": {"unsigned_decisions": "accepted", **policy}},
    }
    spec["canary"]["steps"] = [{"weight": 25 * (i + 1), "soak": "10m"} for i in range(steps)]
    return spec
