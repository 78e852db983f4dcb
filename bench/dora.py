"""What a DORA refresh costs: reading N closed promotions from a real dev server.

Run: ``uv run python bench/dora.py [--runs 300] [--repeat 3]`` from the repository root.

It starts a Temporal dev server, closes N `PromotionWorkflow` runs (a stand-in
workflow of that name returns a `PromotionResult` whose state has a 60-entry
timeline, about the size a real promotion records), then times, median of
``--repeat``: the visibility listing alone (the baseline: what any report must do),
a cold read (every run's start and close events, as `rollway dora` does), a warm
refresh with the worker's cache (closed runs are not read again), and the pure
computation.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

with workflow.unsafe.imports_passed_through():
    from rollway import SEARCH_ATTRIBUTES
    from rollway.dora import compute
    from rollway.dora_history import RecordCache, read_history, visibility_query
    from rollway.models import (
        CanaryState,
        Outcome,
        PromotionInput,
        PromotionResult,
        PromotionState,
        Stage,
        TimelineEntry,
    )
    from rollway.spec_loader import parse_pipeline


@workflow.defn(name="PromotionWorkflow", sandboxed=False)
class StandIn:
    @workflow.run
    async def run(self, inp: PromotionInput) -> PromotionResult:
        now = workflow.now()
        outcome = Outcome.ROLLED_BACK if inp.commit.endswith("0") else Outcome.PROMOTED
        state = PromotionState(
            service=inp.service,
            version=inp.version,
            commit=inp.commit,
            stage=Stage.DONE,
            outcome=outcome,
            started_at=now,
            finished_at=now,
            canary=CanaryState(environment="production", steps=[10, 50], step=1, weight=100),
            timeline=[
                TimelineEntry(at=now, stage=Stage.CANARY, message=f"canary step {i}: soaking 5m")
                for i in range(60)
            ],
        )
        return PromotionResult(outcome=outcome, version=inp.version, state=state)


async def timed(fn: Callable[[], Awaitable[object]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def main(runs: int, repeat: int) -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(ROOT / ".venv" / "bin" / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=[SearchAttributeKey.for_keyword(n) for n in SEARCH_ATTRIBUTES],
        dev_server_log_level="error",
    )
    try:
        client = env.client
        spec = parse_pipeline(
            {
                "service": "bench",
                "run": {"command": ["true"]},
                "canary": {"steps": [{"weight": 10, "soak": "5m"}, {"weight": 50, "soak": "5m"}]},
                "dora": {"targets": {"time_to_restore": "15m", "change_failure_rate": "5%"}},
            }
        )
        committed = datetime.now(UTC) - timedelta(hours=3)
        queue = f"bench-{uuid.uuid4()}"
        async with Worker(client, task_queue=queue, workflows=[StandIn]):
            handles = []
            for i in range(runs):
                commit = f"{i:07x}{uuid.uuid4().hex[:5]}"
                attrs = TypedSearchAttributes(
                    [
                        SearchAttributePair(
                            SearchAttributeKey.for_keyword("RollwayService"), "bench"
                        ),
                        SearchAttributePair(
                            SearchAttributeKey.for_keyword("RollwayEnvironment"), "production"
                        ),
                    ]
                )
                inp = PromotionInput(
                    service="bench",
                    version=f"v{i}",
                    commit=commit,
                    pipeline=spec,
                    commit_time=committed,
                )
                handles.append(
                    await client.start_workflow(
                        "PromotionWorkflow",
                        inp,
                        id=f"promote-bench-{commit}",
                        task_queue=queue,
                        search_attributes=attrs,
                    )
                )
            await asyncio.gather(*(h.result() for h in handles))
        since = datetime.now(UTC) - timedelta(days=1)
        query = visibility_query(since, "bench")
        for _ in range(100):  # visibility catches up
            if len([w async for w in client.list_workflows(query)]) >= runs:
                break
            await asyncio.sleep(0.2)

        async def listing() -> None:
            _ = [w async for w in client.list_workflows(query)]

        async def cold() -> None:
            await read_history(client, since=since, service="bench", limit=runs + 10)

        cache = RecordCache()
        await read_history(client, since=since, service="bench", limit=runs + 10, cache=cache)

        async def warm() -> None:
            h = await read_history(
                client, since=since, service="bench", limit=runs + 10, cache=cache
            )
            assert h.fetched == 0

        history = await read_history(client, since=since, service="bench", limit=runs + 10)
        assert len(history.deployments) == runs, len(history.deployments)

        async def pure() -> None:
            compute(
                history.deployments,
                since=since,
                until=datetime.now(UTC),
                targets=history.targets,
            )

        t_list = await timed(listing, repeat)
        t_cold = await timed(cold, repeat)
        t_warm = await timed(warm, repeat)
        t_pure = await timed(pure, repeat)
        print(f"{runs} closed promotions, median of {repeat}")
        print(f"  visibility listing (baseline): {t_list * 1000:8.1f} ms")
        print(
            f"  cold read (rollway dora):      {t_cold * 1000:8.1f} ms  "
            f"{t_cold / runs * 1000:.2f} ms/run  {t_cold / t_list:.1f}x listing"
        )
        print(
            f"  warm refresh (worker cache):   {t_warm * 1000:8.1f} ms  {t_warm / t_list:.1f}x listing"
        )
        print(f"  compute only:                  {t_pure * 1000:8.1f} ms")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.repeat))
